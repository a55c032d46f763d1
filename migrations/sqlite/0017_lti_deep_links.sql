-- LTI deep linking: an instructor adding Lectern to a course picks a module; the request waits
-- here (single-use, for its instructor) until they have chosen.
CREATE TABLE lti_deep_links (
    id            INTEGER PRIMARY KEY,
    learner_id    INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    platform_id   INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    deployment_id TEXT    NOT NULL,
    return_url    TEXT    NOT NULL,
    data          TEXT,
    created_at    INTEGER NOT NULL -- unix seconds
);
