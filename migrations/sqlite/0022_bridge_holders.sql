-- Several servers on one database (PostgreSQL): which server holds each learner's `lectern connect`
-- bridge, so that another can relay a check through it; and the secret the servers prove
-- themselves to each other with, made by the first server that starts (it never leaves the
-- database). Kept in SQLite too, so both schemas stay one.
CREATE TABLE bridge_holders (
    learner_id INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    holder     TEXT    NOT NULL, -- the holding server's --replica-url
    serial     INTEGER NOT NULL, -- that server's number for the connection
    since      INTEGER NOT NULL  -- unix seconds
);

CREATE TABLE replica_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT    NOT NULL
);
