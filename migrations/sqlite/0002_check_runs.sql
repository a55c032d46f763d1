-- Every "Check my work" run, with what each check observed, so progress and an instructor's view can
-- show the evidence behind each verdict. Lectern never reads Secret data, so none is stored here.
CREATE TABLE check_runs (
    id          INTEGER PRIMARY KEY,
    learner_id  INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    lab_id      TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('passed', 'failed', 'error')),
    results     TEXT    NOT NULL, -- JSON array of check results
    duration_ms INTEGER NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX check_runs_by_step ON check_runs (learner_id, lab_id, step_id, id);
