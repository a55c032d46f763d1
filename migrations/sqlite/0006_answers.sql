-- Assessment answers. Every save is a new version; the latest version is the current answer (and the
-- one graded). Choice questions are graded on submission (auto_score); open ones by instructors later.
CREATE TABLE answers (
    id          INTEGER PRIMARY KEY,
    learner_id  INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    module_id   TEXT    NOT NULL,
    question_id TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('draft', 'submitted')),
    text        TEXT,             -- open questions
    choices     TEXT,             -- choice questions: JSON array of option indexes
    auto_score  INTEGER,          -- choice questions, on submission
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (learner_id, module_id, question_id, version)
);
