-- Portal mode: the cluster each learner's checks run against. The kubeconfig is kept server-side
-- and never shown to learners; without an assignment the server's own kubeconfig is used.
CREATE TABLE cluster_assignments (
    learner_id  INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    kubeconfig  TEXT    NOT NULL,
    context     TEXT,
    server      TEXT    NOT NULL, -- the API server URL, for admins' overview
    assigned_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
