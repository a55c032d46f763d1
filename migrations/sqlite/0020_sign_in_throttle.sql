-- Password-guessing throttles, in the database so that every server of a portal counts the same
-- failures (and a restart forgets none). A failure is one row per key it counts against:
-- `pair:<account> <address>`, `address:<address>`, `account:<account>`.
CREATE TABLE sign_in_failures (
    key   TEXT    NOT NULL,
    at_ms INTEGER NOT NULL -- unix milliseconds
);

CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at_ms);
CREATE INDEX sign_in_failures_by_time ON sign_in_failures (at_ms);

-- Where each account signed in from lately: those addresses are exempt from the per-account limit.
CREATE TABLE sign_in_addresses (
    account TEXT    NOT NULL, -- lower case
    address TEXT    NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (account, address)
);
