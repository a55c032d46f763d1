-- When a learner started each lab step, and how: `start` (they pressed Start) or `check` (their
-- first "Check my work"). The live checks follow a started step until it passes; events count from
-- a `start` (a first check may come after the work it checks).
CREATE TABLE step_starts (
    learner_id BIGINT NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    lab_id     TEXT   NOT NULL,
    step_id    TEXT   NOT NULL,
    started_at TEXT   NOT NULL,
    origin     TEXT   NOT NULL CHECK (origin IN ('start', 'check')),
    PRIMARY KEY (learner_id, lab_id, step_id)
);

-- What Lectern saw of a started step's `held = "once-since-start"` checks: the first moment each
-- held since that start, with what it observed then.
CREATE TABLE check_sightings (
    learner_id BIGINT NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    lab_id     TEXT   NOT NULL,
    step_id    TEXT   NOT NULL,
    check_id   TEXT   NOT NULL,
    started_at TEXT   NOT NULL,
    seen_at    TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    observed   TEXT   NOT NULL,
    PRIMARY KEY (learner_id, lab_id, step_id, check_id, started_at)
);
