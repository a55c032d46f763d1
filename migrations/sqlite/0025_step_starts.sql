-- When a learner started each lab step ("Start", or their first "Check my work"): the live checks
-- follow a started step until it passes, and what a step asks to have happened must happen after.
CREATE TABLE step_starts (
    learner_id INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    lab_id     TEXT    NOT NULL,
    step_id    TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    PRIMARY KEY (learner_id, lab_id, step_id)
);
