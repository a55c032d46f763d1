-- Personal mode: no instructor grades written answers, so after submitting one the learner may read
-- the model answer and score it against the rubric themselves. Kept apart from `grades` so a
-- self-assessment is never taken for an instructor's grade; every one is kept, the latest counts.
CREATE TABLE self_assessments (
    id             INTEGER PRIMARY KEY,
    learner_id     INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    module_id      TEXT    NOT NULL,
    question_id    TEXT    NOT NULL,
    answer_version INTEGER NOT NULL,
    criteria       TEXT    NOT NULL, -- JSON array of {criterion, points, score}, as scored
    score          INTEGER NOT NULL,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX self_assessments_by_question ON self_assessments (learner_id, module_id, question_id, id);
