-- Portal mode: people sign in. An account gives a learner row a user name, a role and a password
-- (Argon2id, PHC string). Sessions are server-side; the cookie holds a random token whose SHA-256
-- is the key here, so a copy of the database cannot be used to hijack sessions.
CREATE TABLE accounts (
    learner_id    INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL CHECK (role IN ('learner', 'instructor', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,
    learner_id   INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL, -- unix seconds
    last_seen_at INTEGER NOT NULL  -- unix seconds
);

CREATE INDEX sessions_by_learner ON sessions (learner_id);
