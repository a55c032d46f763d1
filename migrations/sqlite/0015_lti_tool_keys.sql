-- Lectern's own signing keys as an LTI tool (RS256), published at /lti/jwks: the newest signs, the
-- one before stays published until what it signed has expired. Stored like assigned kubeconfigs:
-- in the database file, readable by Lectern's user only.
CREATE TABLE lti_tool_keys (
    kid         TEXT    PRIMARY KEY,
    private_pem TEXT    NOT NULL,
    created_at  INTEGER NOT NULL -- unix seconds
);
