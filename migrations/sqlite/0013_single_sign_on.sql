-- Single sign-on (OpenID Connect). An account is linked to a provider's identity by (issuer,
-- subject), never by e-mail. A sign-in in progress keeps its state, nonce and PKCE verifier here,
-- server-side and single-use (the state only as its SHA-256).
CREATE TABLE account_identities (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    learner_id INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    linked_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (issuer, subject)
);

CREATE TABLE sso_logins (
    state_hash    TEXT    PRIMARY KEY,
    nonce         TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    next          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL -- unix seconds
);

-- How each account came to be: `cli` (`lectern user add`: the break-glass accounts that keep
-- password sign-in when it is otherwise off), `admin` (the Users page), `sso` (first sign-in).
-- Admins that exist already count as break-glass, so switching passwords off locks nobody out.
ALTER TABLE accounts ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
UPDATE accounts SET origin = 'cli' WHERE role = 'admin';
