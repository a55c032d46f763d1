-- Every time in one form: the timestamp text the other tables already use (UTC, milliseconds,
-- fixed width, so text order is time order on both backends), as in SQLite's 0024.
CREATE FUNCTION lectern_stamp(seconds DOUBLE PRECISION) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(to_timestamp(seconds) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

ALTER TABLE sessions
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at),
    ALTER COLUMN last_seen_at TYPE TEXT USING lectern_stamp(last_seen_at);
ALTER TABLE bridge_codes
    ALTER COLUMN expires_at TYPE TEXT USING lectern_stamp(expires_at),
    ALTER COLUMN used_at TYPE TEXT USING lectern_stamp(used_at);
ALTER TABLE bridge_tokens
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at),
    ALTER COLUMN expires_at TYPE TEXT USING lectern_stamp(expires_at),
    ALTER COLUMN last_used_at TYPE TEXT USING lectern_stamp(last_used_at),
    ALTER COLUMN revoked_at TYPE TEXT USING lectern_stamp(revoked_at);
ALTER TABLE bridge_holders
    ALTER COLUMN since TYPE TEXT USING lectern_stamp(since);
ALTER TABLE sso_logins
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at);
ALTER TABLE lti_launches
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at);
ALTER TABLE lti_tool_keys
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at);
ALTER TABLE lti_deep_links
    ALTER COLUMN created_at TYPE TEXT USING lectern_stamp(created_at);
ALTER TABLE lti_score_outbox
    ALTER COLUMN due_at TYPE TEXT USING lectern_stamp(due_at);
ALTER TABLE sign_in_failures
    ALTER COLUMN at_ms TYPE TEXT USING lectern_stamp(at_ms / 1000.0);
ALTER TABLE sign_in_failures RENAME COLUMN at_ms TO failed_at;
ALTER TABLE sign_in_addresses
    ALTER COLUMN at_ms TYPE TEXT USING lectern_stamp(at_ms / 1000.0);
ALTER TABLE sign_in_addresses RENAME COLUMN at_ms TO signed_in_at;

DROP FUNCTION lectern_stamp(DOUBLE PRECISION);

-- The grade outbox's triggers write the epoch: "changed since it was last taken" (see
-- lti/store.rs). Every trigger calls this one function.
CREATE OR REPLACE FUNCTION lti_queue_score(learner BIGINT) RETURNS VOID LANGUAGE sql AS $$
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT learner, '1970-01-01T00:00:00.000Z' WHERE learner IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0
$$;
