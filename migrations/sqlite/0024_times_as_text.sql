-- Every time in one form: the timestamp text the other tables already use (UTC, milliseconds,
-- fixed width, so text order is time order on both backends). The tables that kept Unix seconds
-- (sessions, bridges, SSO and LTI hand-shakes, the grade outbox) or milliseconds (the sign-in
-- throttle) are rebuilt with their rows converted. No other table refers to them.

CREATE TABLE sessions_new (
    token_hash      TEXT    PRIMARY KEY,
    learner_id      INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    csrf_token      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    last_seen_at    TEXT    NOT NULL,
    frame_ancestors TEXT
);
INSERT INTO sessions_new
SELECT token_hash, learner_id, csrf_token,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%fZ', last_seen_at, 'unixepoch'),
       frame_ancestors
FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_by_learner ON sessions (learner_id);

CREATE TABLE bridge_codes_new (
    code_hash  TEXT    PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    expires_at TEXT    NOT NULL,
    used_at    TEXT
);
INSERT INTO bridge_codes_new
SELECT code_hash, learner_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%fZ', used_at, 'unixepoch')
FROM bridge_codes;
DROP TABLE bridge_codes;
ALTER TABLE bridge_codes_new RENAME TO bridge_codes;

CREATE TABLE bridge_tokens_new (
    id           INTEGER PRIMARY KEY,
    learner_id   INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    label        TEXT    NOT NULL,  -- the machine it was paired from, as the client reported it
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
INSERT INTO bridge_tokens_new
SELECT id, learner_id, token_hash, label,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%fZ', expires_at, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%fZ', last_used_at, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%fZ', revoked_at, 'unixepoch')
FROM bridge_tokens;
DROP TABLE bridge_tokens;
ALTER TABLE bridge_tokens_new RENAME TO bridge_tokens;
CREATE INDEX bridge_tokens_by_learner ON bridge_tokens (learner_id);

CREATE TABLE bridge_holders_new (
    learner_id INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    holder     TEXT    NOT NULL, -- the holding server's --replica-url
    serial     INTEGER NOT NULL, -- that server's number for the connection
    since      TEXT    NOT NULL
);
INSERT INTO bridge_holders_new
SELECT learner_id, holder, serial, strftime('%Y-%m-%dT%H:%M:%fZ', since, 'unixepoch')
FROM bridge_holders;
DROP TABLE bridge_holders;
ALTER TABLE bridge_holders_new RENAME TO bridge_holders;

CREATE TABLE sso_logins_new (
    state_hash    TEXT    PRIMARY KEY,
    nonce         TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    next          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
);
INSERT INTO sso_logins_new
SELECT state_hash, nonce, pkce_verifier, next,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch')
FROM sso_logins;
DROP TABLE sso_logins;
ALTER TABLE sso_logins_new RENAME TO sso_logins;

CREATE TABLE lti_launches_new (
    state_hash  TEXT    PRIMARY KEY,
    nonce       TEXT    NOT NULL,
    platform_id INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL
);
INSERT INTO lti_launches_new
SELECT state_hash, nonce, platform_id, strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch')
FROM lti_launches;
DROP TABLE lti_launches;
ALTER TABLE lti_launches_new RENAME TO lti_launches;

CREATE TABLE lti_tool_keys_new (
    kid         TEXT    PRIMARY KEY,
    private_pem TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
INSERT INTO lti_tool_keys_new
SELECT kid, private_pem, strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch')
FROM lti_tool_keys;
DROP TABLE lti_tool_keys;
ALTER TABLE lti_tool_keys_new RENAME TO lti_tool_keys;

CREATE TABLE lti_deep_links_new (
    id            INTEGER PRIMARY KEY,
    learner_id    INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    platform_id   INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    deployment_id TEXT    NOT NULL,
    return_url    TEXT    NOT NULL,
    data          TEXT,
    created_at    TEXT    NOT NULL
);
INSERT INTO lti_deep_links_new
SELECT id, learner_id, platform_id, deployment_id, return_url, data,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at, 'unixepoch')
FROM lti_deep_links;
DROP TABLE lti_deep_links;
ALTER TABLE lti_deep_links_new RENAME TO lti_deep_links;

CREATE TABLE sign_in_failures_new (
    key       TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
INSERT INTO sign_in_failures_new
SELECT key, strftime('%Y-%m-%dT%H:%M:%fZ', at_ms / 1000.0, 'unixepoch') FROM sign_in_failures;
DROP TABLE sign_in_failures;
ALTER TABLE sign_in_failures_new RENAME TO sign_in_failures;
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, failed_at);
CREATE INDEX sign_in_failures_by_time ON sign_in_failures (failed_at);

CREATE TABLE sign_in_addresses_new (
    account      TEXT NOT NULL, -- lower case
    address      TEXT NOT NULL,
    signed_in_at TEXT NOT NULL,
    PRIMARY KEY (account, address)
);
INSERT INTO sign_in_addresses_new
SELECT account, address, strftime('%Y-%m-%dT%H:%M:%fZ', at_ms / 1000.0, 'unixepoch')
FROM sign_in_addresses;
DROP TABLE sign_in_addresses;
ALTER TABLE sign_in_addresses_new RENAME TO sign_in_addresses;

-- The grade outbox: `due_at` is when to send next; the epoch means "changed since it was last
-- taken" (see lti/store.rs), which every trigger below writes.
DROP TRIGGER lti_score_after_check_run;
DROP TRIGGER lti_score_after_choice;
DROP TRIGGER lti_score_after_written_answer;
DROP TRIGGER lti_score_after_released_grade;
DROP TRIGGER lti_score_after_release;
DROP TRIGGER lti_score_after_withdrawal;

CREATE TABLE lti_score_outbox_new (
    learner_id INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    due_at     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO lti_score_outbox_new
SELECT learner_id, strftime('%Y-%m-%dT%H:%M:%fZ', due_at, 'unixepoch'), attempts, last_error
FROM lti_score_outbox;
DROP TABLE lti_score_outbox;
ALTER TABLE lti_score_outbox_new RENAME TO lti_score_outbox;

-- A lab check run.
CREATE TRIGGER lti_score_after_check_run AFTER INSERT ON check_runs
WHEN EXISTS (SELECT 1 FROM lti_grade_links WHERE learner_id = NEW.learner_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, '1970-01-01T00:00:00.000Z')
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;

-- A choice question, graded on submission.
CREATE TRIGGER lti_score_after_choice AFTER INSERT ON answers
WHEN NEW.state = 'submitted' AND NEW.auto_score IS NOT NULL
     AND EXISTS (SELECT 1 FROM lti_grade_links WHERE learner_id = NEW.learner_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, '1970-01-01T00:00:00.000Z')
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;

-- A written answer, when its question has a column that shows it waits for the instructor.
CREATE TRIGGER lti_score_after_written_answer AFTER INSERT ON answers
WHEN NEW.state = 'submitted' AND NEW.auto_score IS NULL
     AND EXISTS (SELECT 1 FROM lti_grade_links
                 WHERE learner_id = NEW.learner_id AND lineitems IS NOT NULL)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, '1970-01-01T00:00:00.000Z')
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;

-- A grade (or regrade) of a question whose grades are released: never before release.
CREATE TRIGGER lti_score_after_released_grade AFTER INSERT ON grades
WHEN EXISTS (SELECT 1 FROM answers a JOIN grade_releases r
                 ON r.module_id = a.module_id AND r.question_id = a.question_id
             WHERE a.id = NEW.answer_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT a.learner_id, '1970-01-01T00:00:00.000Z' FROM answers a
    WHERE a.id = NEW.answer_id AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;

-- A release, and its withdrawal: everyone graded on that question.
CREATE TRIGGER lti_score_after_release AFTER INSERT ON grade_releases
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT DISTINCT a.learner_id, '1970-01-01T00:00:00.000Z' FROM answers a JOIN grades g ON g.answer_id = a.id
    WHERE a.module_id = NEW.module_id AND a.question_id = NEW.question_id
      AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;

CREATE TRIGGER lti_score_after_withdrawal AFTER DELETE ON grade_releases
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT DISTINCT a.learner_id, '1970-01-01T00:00:00.000Z' FROM answers a JOIN grades g ON g.answer_id = a.id
    WHERE a.module_id = OLD.module_id AND a.question_id = OLD.question_id
      AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0;
END;
