-- An LTI role is a course's, not the portal's. An Instructor launched from a course follows and
-- grades that course's cohort only: `staff_scope` is 'cohorts' for such an account, and
-- `staff_cohorts` lists the cohorts it teaches (one row per course it launched from as staff).
ALTER TABLE accounts ADD COLUMN staff_scope TEXT NOT NULL DEFAULT 'portal'
    CHECK (staff_scope IN ('portal', 'cohorts'));

CREATE TABLE staff_cohorts (
    learner_id BIGINT NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    cohort     TEXT   NOT NULL,
    PRIMARY KEY (learner_id, cohort)
);

-- An LTI platform's subjects are unique only within Lectern's registration there (client id) and
-- the deployment: several registrations may share an issuer (Canvas cloud's is every school's).
-- Single sign-on identities keep both empty. Rows made before this migration are LTI identities
-- keyed by issuer alone; a launch adopts one only when a single platform has that issuer.
ALTER TABLE account_identities ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE account_identities ADD COLUMN deployment_id TEXT NOT NULL DEFAULT '';
ALTER TABLE account_identities DROP CONSTRAINT account_identities_pkey;
ALTER TABLE account_identities ADD PRIMARY KEY (issuer, client_id, deployment_id, subject);

-- In step with SQLite's schema (tests/it/schema.rs compares them): the same triggers by name, one
-- per event as SQLite has to write them (the functions stay one each), and the exact-name unique
-- index SQLite's `username TEXT UNIQUE` made.
DROP TRIGGER lti_score_after_answer ON answers;
CREATE TRIGGER lti_score_after_choice AFTER INSERT ON answers
FOR EACH ROW WHEN (NEW.state = 'submitted' AND NEW.auto_score IS NOT NULL)
EXECUTE FUNCTION lti_score_after_answer();
CREATE TRIGGER lti_score_after_written_answer AFTER INSERT ON answers
FOR EACH ROW WHEN (NEW.state = 'submitted' AND NEW.auto_score IS NULL)
EXECUTE FUNCTION lti_score_after_answer();
DROP TRIGGER lti_score_after_release_change ON grade_releases;
CREATE TRIGGER lti_score_after_release AFTER INSERT ON grade_releases
FOR EACH ROW EXECUTE FUNCTION lti_score_after_release_change();
CREATE TRIGGER lti_score_after_withdrawal AFTER DELETE ON grade_releases
FOR EACH ROW EXECUTE FUNCTION lti_score_after_release_change();
CREATE UNIQUE INDEX accounts_username_key ON accounts (username);
