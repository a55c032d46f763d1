-- `lectern connect`: a learner's machine relays the portal's read-only requests to their own cluster.
-- Pairing codes are shown once on the portal's Connect page and exchanged (once) for a bridge token;
-- both are stored as SHA-256 hashes, so a copy of the database cannot be used to connect.
CREATE TABLE bridge_codes (
    code_hash  TEXT    PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL, -- unix seconds
    used_at    INTEGER           -- unix seconds
);

CREATE TABLE bridge_tokens (
    id           INTEGER PRIMARY KEY,
    learner_id   INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    label        TEXT    NOT NULL,  -- the machine it was paired from, as the client reported it
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE INDEX bridge_tokens_by_learner ON bridge_tokens (learner_id);

-- Which cluster a run asked: the learner's bridge, an assigned kubeconfig, or the server's own.
ALTER TABLE check_runs ADD COLUMN via TEXT NOT NULL DEFAULT 'server'
    CHECK (via IN ('bridge', 'assigned', 'server'));
