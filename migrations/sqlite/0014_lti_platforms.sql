-- LTI 1.3: the learning platforms (Moodle, Canvas, Open edX…) an admin registered, and launches in
-- progress (state as its SHA-256, nonce; single-use). Accounts launched from a platform are linked
-- by (platform issuer, subject) in `account_identities`.
CREATE TABLE lti_platforms (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    issuer         TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    auth_url       TEXT    NOT NULL,
    token_url      TEXT    NOT NULL,
    jwks_url       TEXT    NOT NULL,
    deployment_ids TEXT    NOT NULL, -- JSON array
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (issuer, client_id)
);

CREATE TABLE lti_launches (
    state_hash  TEXT    PRIMARY KEY,
    nonce       TEXT    NOT NULL,
    platform_id INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL -- unix seconds
);
