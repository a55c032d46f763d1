-- Several servers on one database: which server holds each learner's `lectern connect` bridge, so
-- that another can relay a check through it; and the secret the servers prove themselves to each
-- other with, made by the first server that starts (it never leaves the database).
CREATE TABLE bridge_holders (
    learner_id BIGINT PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    holder     TEXT   NOT NULL,
    serial     BIGINT NOT NULL,
    since      BIGINT NOT NULL
);

CREATE TABLE replica_secret (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    secret TEXT   NOT NULL
);
