-- Instructor grading of open answers.
--
-- Rubrics come from the content files; every distinct rubric a question has had is kept here as a
-- version, so a grade always says which criteria its scores belong to.
CREATE TABLE rubric_versions (
    module_id   TEXT    NOT NULL,
    question_id TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    criteria    TEXT    NOT NULL, -- JSON array of {key, criterion, points}
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (module_id, question_id, version)
);

-- Every grade given to a submitted answer version, oldest first: the latest revision is the current
-- grade, the others are its history. `revision` is the optimistic-concurrency check: a grader saves
-- revision n+1 only if they saw revision n, and the unique key refuses the second of two at once.
CREATE TABLE grades (
    id             INTEGER PRIMARY KEY,
    answer_id      INTEGER NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
    revision       INTEGER NOT NULL,
    grader_id      INTEGER REFERENCES learners (id) ON DELETE SET NULL, -- NULL: recomputed by Lectern
    rubric_version INTEGER NOT NULL,
    scores         TEXT    NOT NULL, -- JSON array, one entry per criterion (null: not scored yet)
    score          INTEGER NOT NULL,
    feedback       TEXT    NOT NULL,
    needs_review   TEXT,             -- why an instructor should look again (a rubric change)
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (answer_id, revision)
);

-- Questions whose instructor grades learners may see.
CREATE TABLE grade_releases (
    module_id   TEXT    NOT NULL,
    question_id TEXT    NOT NULL,
    released_by INTEGER REFERENCES learners (id) ON DELETE SET NULL,
    released_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (module_id, question_id)
);

CREATE INDEX answers_by_question ON answers (module_id, question_id, learner_id, version);
