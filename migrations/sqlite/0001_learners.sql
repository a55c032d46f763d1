-- Who progress belongs to. Until accounts exist (portal mode), everything belongs to the one
-- implicit local learner created here, so later tables can reference learners from the start.
CREATE TABLE learners (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO learners (id, name) VALUES (1, 'local');
