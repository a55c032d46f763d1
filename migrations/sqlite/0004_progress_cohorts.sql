-- When each learner first and last opened each module (for progress and "continue where you left
-- off"), and which cohort an account belongs to (for instructors' views).
CREATE TABLE module_visits (
    learner_id       INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    module_id        TEXT    NOT NULL,
    first_opened_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_opened_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (learner_id, module_id)
);

ALTER TABLE accounts ADD COLUMN cohort TEXT;

CREATE INDEX check_runs_by_lab ON check_runs (lab_id, step_id, learner_id, id);
