-- An LTI role is a course's, not the portal's. An Instructor launched from a course follows and
-- grades that course's cohort only: `staff_scope` is 'cohorts' for such an account, and
-- `staff_cohorts` lists the cohorts it teaches (one row per course it launched from as staff).
ALTER TABLE accounts ADD COLUMN staff_scope TEXT NOT NULL DEFAULT 'portal'
    CHECK (staff_scope IN ('portal', 'cohorts'));

CREATE TABLE staff_cohorts (
    learner_id INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    cohort     TEXT    NOT NULL,
    PRIMARY KEY (learner_id, cohort)
);

-- An LTI platform's subjects are unique only within Lectern's registration there (client id) and
-- the deployment: several registrations may share an issuer (Canvas cloud's is every school's).
-- Single sign-on identities keep both empty. Rows made before this migration are LTI identities
-- keyed by issuer alone; a launch adopts one only when a single platform has that issuer.
CREATE TABLE account_identities_keyed (
    issuer        TEXT    NOT NULL,
    client_id     TEXT    NOT NULL DEFAULT '',
    deployment_id TEXT    NOT NULL DEFAULT '',
    subject       TEXT    NOT NULL,
    learner_id    INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    linked_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (issuer, client_id, deployment_id, subject)
);
INSERT INTO account_identities_keyed (issuer, subject, learner_id, linked_at)
    SELECT issuer, subject, learner_id, linked_at FROM account_identities;
DROP TABLE account_identities;
ALTER TABLE account_identities_keyed RENAME TO account_identities;
