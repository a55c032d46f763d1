-- When each learner last opened My work: grades released to them after that are "new" (the badge
-- in the account area, and the mark on each such answer).
CREATE TABLE work_seen (
    learner_id INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    seen_at    TEXT    NOT NULL
);
