//! Lab checks through the real binary and kube-rs against the Kubernetes API test double over HTTPS.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::kind_fixtures::{self as kind, replace};
use crate::common::kube_api::{FakeCluster, Mode};
use crate::common::{fresh_database, lectern_cmd};

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// The result of one check, by id, from JSON output.
    fn check(&self, id: &str) -> Value {
        let doc = self.json();
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["results"].as_array().unwrap().clone())
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {doc:#}"))
    }
}

async fn lab_check(kubeconfig: &Path, db: &str, extra: &[&str]) -> Outcome {
    let mut cmd = lectern_cmd();
    cmd.args(["lab", "check", "ha-control-plane", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--db")
        .arg(db)
        .args(extra);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn check_json(cluster: &FakeCluster, step: Option<u32>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let step = step.map(|s| s.to_string());
    let mut args = vec!["--output", "json"];
    if let Some(step) = &step {
        args.extend(["--step", step]);
    }
    lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &args,
    )
    .await
}

#[test]
fn lab_list_prints_one_id_per_line() {
    let output = lectern_cmd().args(["lab", "list"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ha-control-plane\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_lab_passes_every_check_but_the_outages() {
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let solo = FakeCluster::start(kind::solo_not_restored()).await;
    kind::restore_solo(&solo);
    let dir = tempfile::tempdir().unwrap();
    let outcome = lab_check(
        &cluster.kubeconfig_with(&solo, "kind-solo"),
        &fresh_database(dir.path()).await,
        &["--output", "json"],
    )
    .await;
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    let doc = outcome.json();
    assert_eq!(doc["status"], "failed");
    // Step 5's count checks describe the cluster while a node is down; step 7's restore is proved
    // only by objects seen before it, and a finished cluster checked once shows none of them (the
    // seen check fails, and the two "gone" checks wait for it); the other 58 hold.
    assert_eq!(
        doc["summary"],
        json!({ "passed": 58, "failed": 7, "error": 0 })
    );
    for step in doc["steps"].as_array().unwrap() {
        let expected = if ["lose-a-control-plane-node", "backup-and-restore"]
            .contains(&step["step"].as_str().unwrap())
        {
            "failed"
        } else {
            "passed"
        };
        assert_eq!(step["status"], expected, "{step:#}");
    }
    assert_eq!(doc["server_version"], "v1.36.0");
    for step in doc["steps"].as_array().unwrap() {
        for result in step["results"].as_array().unwrap() {
            for key in [
                "id",
                "title",
                "status",
                "message",
                "observed",
                "hint",
                "duration_ms",
            ] {
                assert!(result.get(key).is_some(), "{key} missing in {result}");
            }
        }
    }
    let nodes = outcome.check("control-plane-nodes");
    assert_eq!(
        nodes["message"],
        "found 3 Ready Nodes matching node-role.kubernetes.io/control-plane, expected 3: k8s-ha-control-plane, k8s-ha-control-plane2, k8s-ha-control-plane3"
    );
    let list = outcome.check("monitor-can-list-pods");
    assert_eq!(
        list["message"],
        "ServiceAccount monitoring/control-plane-monitor may list pods across the cluster (RBAC: allowed by ClusterRoleBinding \"control-plane-monitor\" of ClusterRole \"control-plane-monitor\" to ServiceAccount \"control-plane-monitor/monitoring\")"
    );
    let delete = outcome.check("monitor-cannot-delete-pods");
    assert_eq!(delete["status"], "passed");
    assert_eq!(
        delete["message"],
        "ServiceAccount monitoring/control-plane-monitor may not delete pods in namespace default: no RBAC binding grants it"
    );
    assert_eq!(
        outcome.check("api-server-ready")["observed"]["checks"]["etcd"],
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_cluster_fails_step_four_with_hints_and_a_readable_report() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let dir = tempfile::tempdir().unwrap();
    let outcome = lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &["--step", "4"],
    )
    .await;
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    let text = &outcome.stdout;
    assert!(
        text.contains("Step 4: Give a monitoring identity read-only access"),
        "{text}"
    );
    assert!(
        text.contains("  ✘ ServiceAccount monitoring/control-plane-monitor exists ("),
        "{text}"
    );
    assert!(
        text.contains("      ServiceAccount monitoring/control-plane-monitor not found\n"),
        "{text}"
    );
    assert!(text.contains("      hint: Create it with `kubectl -n monitoring create serviceaccount control-plane-monitor`."), "{text}");
    assert!(
        text.contains("  ✘ The monitor cannot delete pods ("),
        "an identity not built yet proves nothing by being unable to delete: {text}"
    );
    assert!(
        text.contains("      not yet: this counts once “ClusterRoleBinding control-plane-monitor binds the ClusterRole to the service account in monitoring” passes"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("ms")
            && text.contains("0 passed, 12 failed, 0 could not be checked"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_the_name_is_named() {
    let mut objects = kind::lab_done();
    replace(
        &mut objects,
        "ServiceAccount",
        "control-plane-monitor",
        Some(kind::service_account("monitoring", "control-plane-monitr")),
    );
    let cluster = FakeCluster::start(objects).await;
    let outcome = check_json(&cluster, Some(4)).await;
    assert_eq!(outcome.code, 1);
    let sa = outcome.check("monitor-service-account");
    assert_eq!(sa["status"], "failed");
    assert_eq!(
        sa["message"],
        "ServiceAccount monitoring/control-plane-monitor not found; found ServiceAccount control-plane-monitr in namespace monitoring, 1 letter off from control-plane-monitor: a typo?"
    );
    assert_eq!(sa["observed"]["likely_slips"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_namespace_is_named() {
    let mut objects = kind::ha_cluster();
    objects.push(kind::service_account("default", "control-plane-monitor"));
    objects.push(kind::monitor_role());
    objects.push(kind::cluster_role_binding("control-plane-monitor", "control-plane-monitor", json!([ { "kind": "ServiceAccount", "name": "control-plane-monitor", "namespace": "default" } ])));
    let cluster = FakeCluster::start(objects).await;
    let outcome = check_json(&cluster, Some(4)).await;
    assert_eq!(outcome.code, 1);
    assert_eq!(
        outcome.check("monitor-service-account")["message"],
        "ServiceAccount monitoring/control-plane-monitor not found; found ServiceAccount control-plane-monitor in namespace default, not in monitoring"
    );
    let binding = outcome.check("monitor-binding");
    assert_eq!(binding["status"], "failed");
    assert_eq!(
        binding["message"],
        "found ClusterRoleBinding control-plane-monitor, but no element of subjects has kind = \"ServiceAccount\" and name = \"control-plane-monitor\" and namespace = \"monitoring\" (1 element checked: namespace is \"default\", expected \"monitoring\")"
    );
    assert_eq!(
        binding["observed"]["fields"]["subjects"][0][0]["namespace"],
        "default"
    );
    let list = outcome.check("monitor-can-list-pods");
    assert_eq!(list["status"], "failed");
    assert!(list["message"].as_str().unwrap().ends_with("may not list pods across the cluster: no RBAC binding grants it; expected it to be allowed"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_wildcards_fails_and_the_grant_is_named() {
    let mut objects = kind::lab_done();
    replace(
        &mut objects,
        "ClusterRole",
        "control-plane-monitor",
        Some(kind::cluster_role(
            "control-plane-monitor",
            json!([ { "apiGroups": [""], "resources": ["*"], "verbs": ["*"] } ]),
        )),
    );
    let cluster = FakeCluster::start(objects).await;
    let outcome = check_json(&cluster, Some(4)).await;
    assert_eq!(outcome.code, 1);
    let role = outcome.check("monitor-cluster-role");
    assert_eq!(
        role["message"],
        "found ClusterRole control-plane-monitor, but rules[*].resources is [\"*\"], expected only values from [\"nodes\",\"pods\",\"services\",\"leases\"]; rules[*].verbs is [\"*\"], expected only values from [\"get\",\"list\",\"watch\"]; no element of rules has nonResourceURLs containing \"/metrics\" and verbs containing \"get\" (1 element checked: it has no field nonResourceURLs; verbs is [\"*\"], expected it to contain \"get\")"
    );
    let secrets = outcome.check("monitor-cannot-read-secrets");
    assert_eq!(secrets["status"], "failed");
    assert!(secrets["message"].as_str().unwrap().contains("may get secrets in namespace kube-system (RBAC: allowed by ClusterRoleBinding \"control-plane-monitor\" of ClusterRole \"control-plane-monitor\""), "{secrets}");
    assert_eq!(secrets["observed"]["allowed"], true);
    assert_eq!(
        outcome.check("monitor-cannot-delete-pods")["status"],
        "failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_name_under_a_sibling_kind_is_named() {
    let mut objects = kind::lab_done();
    replace(
        &mut objects,
        "ClusterRoleBinding",
        "control-plane-monitor",
        None,
    );
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "control-plane-monitor", "namespace": "monitoring" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "control-plane-monitor" },
        "subjects": [ { "kind": "ServiceAccount", "name": "control-plane-monitor", "namespace": "monitoring" } ],
    }));
    let cluster = FakeCluster::start(objects).await;
    let outcome = check_json(&cluster, Some(4)).await;
    assert_eq!(
        outcome.check("monitor-binding")["message"],
        "ClusterRoleBinding control-plane-monitor not found; found a RoleBinding named control-plane-monitor in namespace monitoring, but this check needs a ClusterRoleBinding"
    );
    assert_eq!(outcome.check("monitor-can-watch-nodes")["status"], "failed");
}

/// Stacked etcd: one member crash-looping (a full disk, say) takes its node's API server out of
/// service too, since each API server talks only to its local member; through the load balancer,
/// which drops that backend, `/readyz` still passes. Losing a second member loses the quorum, and
/// then every API server's etcd check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_control_plane_is_reported_with_what_was_seen() {
    let mut objects = kind::lab_done();
    for component in ["etcd", "kube-apiserver"] {
        replace(
            &mut objects,
            "Pod",
            &format!("{component}-k8s-ha-control-plane2"),
            Some(kind::static_pod(
                component,
                "k8s-ha-control-plane2",
                "172.18.0.4",
                false,
            )),
        );
    }
    let cluster = FakeCluster::start(objects.clone()).await;
    let outcome = check_json(&cluster, Some(3)).await;
    assert_eq!(outcome.code, 1);
    let etcd = outcome.check("etcd-members");
    assert_eq!(
        etcd["message"],
        "found 2 Ready Pods matching component=etcd in namespace kube-system, expected 3: etcd-k8s-ha-control-plane, etcd-k8s-ha-control-plane3 (not Ready: etcd-k8s-ha-control-plane2)"
    );
    assert_eq!(
        outcome.check("api-servers")["message"],
        "found 2 Ready Pods matching component=kube-apiserver in namespace kube-system, expected 3: kube-apiserver-k8s-ha-control-plane, kube-apiserver-k8s-ha-control-plane3 (not Ready: kube-apiserver-k8s-ha-control-plane2)"
    );
    assert_eq!(outcome.check("api-server-ready")["status"], "passed");

    replace(
        &mut objects,
        "Pod",
        "etcd-k8s-ha-control-plane3",
        Some(kind::static_pod(
            "etcd",
            "k8s-ha-control-plane3",
            "172.18.0.5",
            false,
        )),
    );
    cluster.set_objects(objects);
    cluster.set_health("etcd", false);
    let outcome = check_json(&cluster, Some(3)).await;
    let ready = outcome.check("api-server-ready");
    assert_eq!(ready["status"], "failed");
    assert_eq!(
        ready["message"],
        "/readyz answered 500; failing checks: etcd; etcd failed: reason withheld"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_ready_node_and_a_single_node_cluster_fail_step_two() {
    let mut objects = kind::lab_done();
    replace(
        &mut objects,
        "Node",
        "k8s-ha-worker2",
        Some(kind::node("k8s-ha-worker2", false, Some("zone-b"), false)),
    );
    let cluster = FakeCluster::start(objects).await;
    let outcome = check_json(&cluster, Some(2)).await;
    assert_eq!(outcome.code, 1);
    assert_eq!(
        outcome.check("worker-nodes")["message"],
        "found 1 Ready Node matching !node-role.kubernetes.io/control-plane, expected 2: k8s-ha-worker (not Ready: k8s-ha-worker2)"
    );
    assert_eq!(outcome.check("control-plane-nodes")["status"], "passed");

    cluster.set_objects(kind::single_node_cluster("kind"));
    let outcome = check_json(&cluster, Some(2)).await;
    assert_eq!(outcome.code, 1);
    assert_eq!(
        outcome.check("control-plane-nodes")["message"],
        "found 1 Ready Node matching node-role.kubernetes.io/control-plane, expected 3: kind-control-plane"
    );
    assert!(
        outcome.check("third-control-plane-zone")["message"]
            .as_str()
            .unwrap()
            .starts_with("Node k8s-ha-control-plane3 not found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_explained_and_exits_2() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let port = cluster.addr.port();
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let closed = crate::common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        text.replace(&format!(":{port}"), &format!(":{closed}")),
    )
    .unwrap();
    let outcome = lab_check(&kubeconfig, &fresh_database(dir.path()).await, &[]).await;
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains(&format!(
            "error: cannot reach the cluster at https://127.0.0.1:{closed}"
        )),
        "{}",
        outcome.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_explained_and_exit_2() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    cluster.set_mode(Mode::RejectCredentials);
    let outcome = check_json(&cluster, None).await;
    assert_eq!(outcome.code, 2);
    let doc = outcome.json();
    assert_eq!(doc["status"], "error");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("rejected the credentials (401 Unauthorized)"),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_names_the_verb_and_resource() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    cluster.set_mode(Mode::Forbid("pods".into()));
    let outcome = check_json(&cluster, Some(3)).await;
    assert_eq!(outcome.code, 2);
    let apiservers = outcome.check("api-servers");
    assert_eq!(apiservers["status"], "error");
    assert_eq!(
        apiservers["message"],
        "Lectern's identity is not allowed to list Pod (403 Forbidden): pods is forbidden: User \"system:serviceaccount:lectern:lectern\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\""
    );
    assert_eq!(
        outcome.check("api-server-ready")["status"],
        "passed",
        "other checks still run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    cluster.set_mode(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let outcome = lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &["--cluster-timeout", "1"],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up in time"
    );
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("did not answer within 1 s"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_response_is_explained() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    cluster.set_mode(Mode::Malformed);
    let outcome = check_json(&cluster, None).await;
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("the cluster sent a response Lectern cannot read"),
        "{}",
        outcome.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_labs_and_steps_exit_2() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lectern_cmd();
    cmd.args(["lab", "check", "no-such-lab", "--kubeconfig"])
        .arg(&cluster.kubeconfig);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no lab `no-such-lab` in this course (labs: ha-control-plane)")
    );
    let outcome = lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &["--step", "13"],
    )
    .await;
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("lab `ha-control-plane` has no step 13 (it has steps 1 to 12)"),
        "{}",
        outcome.stderr
    );
    let outcome = lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &["--step", "1"],
    )
    .await;
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("step 1 of lab `ha-control-plane` has no checks"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_steps_can_be_named_and_run_in_the_order_given() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let outcome = lab_check(
        &cluster.kubeconfig,
        &fresh_database(dir.path()).await,
        &["--output", "json", "--step", "4", "--step", "2"],
    )
    .await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let numbers: Vec<u64> = outcome.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [4, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_is_recorded_with_its_evidence() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let outcome = lab_check(&cluster.kubeconfig, &db, &[]).await;
    assert_eq!(outcome.code, 1);
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT step_id, status, results FROM check_runs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let steps: Vec<(&str, &str)> = rows
        .iter()
        .map(|(s, st, _)| (s.as_str(), st.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("create-ha-cluster", "passed"),
            ("inspect-control-plane", "passed"),
            ("monitoring-rbac", "failed"),
            ("lose-a-control-plane-node", "failed"),
            ("recover", "failed"),
            ("backup-and-restore", "failed"),
            ("fix-pending-pods", "failed"),
            ("fix-an-api-server", "failed"),
            ("fix-a-worker", "failed"),
            ("practice-rbac-and-scheduling", "failed"),
            ("practice-extend-the-control-plane", "failed"),
        ]
    );
    let results: Value = serde_json::from_str(&rows[2].2).unwrap();
    assert_eq!(results[1]["id"], "monitor-service-account");
    assert_eq!(results[1]["observed"]["exists"], false);
    let all: String = rows.iter().map(|r| r.2.as_str()).collect();
    assert!(
        !all.contains("c3VwZXItc2VjcmV0LXZhbHVl"),
        "no Secret data is ever stored"
    );
}

/// Runs every step of module 01's lab against a real cluster when `LECTERN_TEST_KUBECONFIG` points
/// at one just created by step 2 (see the README). Every check must be answered (no errors: the
/// event field selectors, non-resource access reviews and second-context lookups work on a real
/// API server), steps 2 and 3 pass, and the drill's outage checks fail on a cluster that never did
/// the drill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_cluster_when_one_is_configured() {
    let Some(kubeconfig) = std::env::var_os("LECTERN_TEST_KUBECONFIG") else {
        eprintln!(
            "skipping: set LECTERN_TEST_KUBECONFIG to a kind cluster's kubeconfig to run module 01's checks against it"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let outcome = lab_check(
        Path::new(&kubeconfig),
        &fresh_database(dir.path()).await,
        &["--output", "json"],
    )
    .await;
    assert_ne!(
        outcome.code, 2,
        "checks could not run: {}\n{}",
        outcome.stdout, outcome.stderr
    );
    let doc = outcome.json();
    assert_eq!(doc["lab"], "ha-control-plane");
    assert_eq!(doc["summary"]["error"], 0, "{doc:#}");
    for step in &doc["steps"].as_array().unwrap()[..2] {
        assert_eq!(
            step["status"], "passed",
            "a fresh kind-ha.yaml cluster: {step:#}"
        );
    }
    for id in [
        "four-nodes-ready",
        "one-control-plane-down",
        "two-api-servers-ready",
        "two-etcd-members-ready",
        "probe-runs-during-outage",
        "node-went-not-ready",
        "probe-survived",
    ] {
        assert_eq!(
            outcome.check(id)["status"],
            "failed",
            "{id} on a cluster that never did the drill"
        );
    }
}

mod http {
    use super::*;
    use crate::common::TestApp;

    const STEP4: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_check_endpoint_runs_records_and_shows_the_last_run() {
        let cluster = FakeCluster::start(kind::ha_cluster()).await;
        let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
        assert_eq!(
            app.get(&format!("{STEP4}/runs/latest")).await.status(),
            204,
            "no run yet"
        );

        let response = app.post_check(&format!("{STEP4}/check")).await;
        assert_eq!(response.status(), 200);
        let run: Value = response.json().await.unwrap();
        assert_eq!(run["status"], "failed");
        assert_eq!(run["step"], "monitoring-rbac");
        assert_eq!(
            run["results"][1]["message"],
            "ServiceAccount monitoring/control-plane-monitor not found"
        );
        assert!(run["recorded_at"].as_str().unwrap().ends_with('Z'));

        cluster.set_objects(kind::lab_done());
        let run: Value = app
            .post_check(&format!("{STEP4}/check"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(run["status"], "passed");
        let latest: Value = app
            .get(&format!("{STEP4}/runs/latest"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(latest["id"], run["id"]);
        assert_eq!(latest["results"], run["results"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_check_requests_get_clear_errors() {
        let cluster = FakeCluster::start(kind::lab_done()).await;
        let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
        let form = app
            .client
            .post(app.url(&format!("{STEP4}/check")))
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 400, "cross-site forms cannot trigger checks");
        let missing = app
            .post_check("/api/labs/ha-control-plane/steps/no-such-step/check")
            .await;
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.json::<Value>().await.unwrap()["error"],
            "lab `ha-control-plane` has no step `no-such-step`"
        );
        let no_checks = app
            .post_check("/api/labs/ha-control-plane/steps/prepare/check")
            .await;
        assert_eq!(no_checks.status(), 404);

        cluster.set_mode(Mode::RejectCredentials);
        let rejected = app.post_check(&format!("{STEP4}/check")).await;
        assert_eq!(rejected.status(), 502);
        let body = rejected.json::<Value>().await.unwrap();
        assert_eq!(
            body["error"],
            "Your kubeconfig does not fit the cluster that answered: it may belong to an earlier cluster of the same name. Run `kind export kubeconfig --name k8s-ha` and check again.",
            "a plain sentence with what to try"
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("rejected the credentials (401 Unauthorized)"),
            "the raw cause, for the details disclosure: {body}"
        );
    }
}

mod preflight {
    use super::*;
    use crate::common::TestApp;

    const PREFLIGHT: &str = "/api/cluster/preflight";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn is_my_cluster_ready_says_which_cluster_context_and_version() {
        let cluster = FakeCluster::start(kind::ha_cluster()).await;
        let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
        let ready = app.post_check(PREFLIGHT).await;
        assert_eq!(ready.status(), 200);
        let facts: Value = ready.json().await.unwrap();
        assert_eq!(facts["via"], "server");
        assert_eq!(facts["context"], "kind-k8s-ha");
        assert_eq!(
            facts["server"],
            format!("https://127.0.0.1:{}", cluster.addr.port()).as_str()
        );
        assert!(
            facts["version"].as_str().unwrap().starts_with("v1.36."),
            "{facts}"
        );
        assert_eq!(facts["needs"], "1.36");
        assert_eq!(facts["recent_enough"], true);
        // Step 7's second cluster does not exist yet: named, and why, without failing the rest.
        assert_eq!(
            facts["contexts"],
            serde_json::json!([{ "context": "kind-solo", "version": null, "problem": "the kubeconfig has no context `kind-solo` (it has: kind-k8s-ha)" }]),
        );
        let solo = FakeCluster::start(kind::single_node_cluster("solo")).await;
        let both = cluster.kubeconfig_with(&solo, "kind-solo");
        let app_both = TestApp::spawn_with_cluster(&both).await;
        let facts: Value = app_both.post_check(PREFLIGHT).await.json().await.unwrap();
        assert_eq!(facts["contexts"][0]["version"], "v1.36.0", "{facts}");
        // A cluster that answers but is older than the lab's version check is not ready.
        cluster.state.lock().unwrap().version = (1, 33);
        let old: Value = app.post_check(PREFLIGHT).await.json().await.unwrap();
        assert_eq!(old["version"], "v1.33.0");
        assert_eq!(old["recent_enough"], false, "{old}");
        cluster.state.lock().unwrap().version = (1, 36);

        let form = app
            .client
            .post(app.url(PREFLIGHT))
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 400, "JSON only, like a check");

        cluster.set_mode(Mode::RejectCredentials);
        let rejected: Value = app.post_check(PREFLIGHT).await.json().await.unwrap();
        assert!(
            rejected["error"]
                .as_str()
                .unwrap()
                .starts_with("Your kubeconfig does not fit the cluster that answered"),
            "{rejected}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_that_is_not_running_is_a_sentence_with_what_to_try_and_the_cause() {
        let cluster = FakeCluster::start(kind::ha_cluster()).await;
        let port = cluster.addr.port();
        let closed = crate::common::free_port();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
        std::fs::write(
            &kubeconfig,
            text.replace(&format!(":{port}"), &format!(":{closed}")),
        )
        .unwrap();
        let app = TestApp::spawn_with_cluster(&kubeconfig).await;
        for path in [
            PREFLIGHT,
            "/api/labs/ha-control-plane/steps/create-ha-cluster/check",
        ] {
            let response = app.post_check(path).await;
            assert_eq!(response.status(), 502, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"],
                "Lectern cannot reach your cluster's API server. Is the cluster running? `docker ps` should list its nodes and `kind get clusters` its name; start Docker or create the cluster, then check again.",
                "{path}"
            );
            assert!(
                body["detail"].as_str().unwrap().starts_with(&format!(
                    "cannot reach the cluster at https://127.0.0.1:{closed}"
                )),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn in_a_portal_without_a_server_cluster_the_learner_is_told_to_connect() {
        use crate::common::browser::Browser;
        let app = TestApp::spawn_with_config(|c| {
            c.portal = true;
            c.cluster.kubeconfig = Some("/nonexistent/kubeconfig".into());
        })
        .await;
        app.add_account("ada", lectern::auth::Role::Learner, None)
            .await;
        let mut ada = Browser::new(&app);
        ada.sign_in_as("ada", crate::common::PASSWORD).await;
        let response = ada.post_json(PREFLIGHT, "{}").await;
        assert_eq!(response.status(), 409);
        let forged = ada
            .with_cookie(app.client.post(app.url(PREFLIGHT)))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "no CSRF token");
    }
}

mod least_privilege {
    use super::*;

    /// The objects of the RBAC manifest Lectern ships for its own identity.
    fn shipped_manifest() -> Vec<Value> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/manifests/lectern-rbac.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        serde_yaml::Deserializer::from_str(&text)
            .map(|doc| {
                serde_json::to_value(
                    <serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap(),
                )
                .unwrap()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shipped_read_only_identity_runs_every_check_without_a_warning() {
        let mut objects = kind::lab_complete();
        objects.extend(shipped_manifest());
        let cluster = FakeCluster::start(objects).await;
        let with_manifest = |mut objects: Vec<Value>| {
            objects.extend(shipped_manifest());
            objects
        };
        let solo = FakeCluster::start(with_manifest(kind::solo_not_restored())).await;
        solo.restore(with_manifest(kind::solo_before_snapshot()), 1_000_000_000);
        solo.set_objects(with_manifest(kind::solo_restored()));
        for double in [&cluster, &solo] {
            double.set_identity("system:serviceaccount:lectern:lectern");
        }
        let dir = tempfile::tempdir().unwrap();
        let outcome = lab_check(
            &cluster.kubeconfig_with(&solo, "kind-solo"),
            &fresh_database(dir.path()).await,
            &["--output", "json"],
        )
        .await;
        let doc = outcome.json();
        // Every check is answered (no 403): the same verdicts as with kind's admin identity.
        assert_eq!(
            doc["summary"],
            json!({ "passed": 58, "failed": 7, "error": 0 }),
            "{}",
            outcome.stdout
        );
        assert_eq!(doc["warnings"], json!([]));
        for double in [&cluster, &solo] {
            assert!(
                double.requests().iter().all(|r| !r.contains("/secrets")),
                "Lectern never asks for Secrets"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_identity_without_the_manifest_is_told_what_is_missing() {
        let cluster = FakeCluster::start(kind::lab_done()).await;
        cluster.set_identity("system:serviceaccount:lectern:lectern");
        let outcome = check_json(&cluster, Some(4)).await;
        assert_eq!(outcome.code, 2);
        assert_eq!(
            outcome.check("monitor-can-list-pods")["message"],
            "Lectern's identity is not allowed to create subjectaccessreviews (403 Forbidden): subjectaccessreviews is forbidden: User \"system:serviceaccount:lectern:lectern\" cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_identity_that_could_write_is_warned_about_naming_the_rule() {
        let cluster = FakeCluster::start(kind::lab_done()).await;
        let outcome = check_json(&cluster, Some(2)).await;
        assert_eq!(
            outcome.json()["warnings"],
            json!([
                "Lectern's identity may * * (API groups \"*\"): it only needs read access; see lectern-rbac.yaml"
            ])
        );
        let dir = tempfile::tempdir().unwrap();
        let text = lab_check(
            &cluster.kubeconfig,
            &fresh_database(dir.path()).await,
            &["--step", "2"],
        )
        .await;
        assert!(
            text.stderr.contains("warning: Lectern's identity may * *"),
            "{}",
            text.stderr
        );
    }
}

#[tokio::test]
async fn the_rbac_manifest_is_served_for_download() {
    let app = crate::common::TestApp::spawn().await;
    let manifest = app.get_ok_text("/static/manifests/lectern-rbac.yaml").await;
    assert!(manifest.contains("name: lectern-lab-checks"));
    assert!(
        !manifest.contains("secrets"),
        "the read-only identity never gets Secrets"
    );
}

mod kinds {
    use super::*;
    use lectern::content::{Check, CheckSpec, ObjectRef, ResourceCheck, VersionCheck};
    use lectern::labs::{self, Cluster, ConnectOptions, Status};

    async fn run(cluster: &FakeCluster, spec: CheckSpec) -> lectern::labs::CheckResult {
        let options = ConnectOptions {
            kubeconfig: Some(cluster.kubeconfig.clone()),
            context: None,
            timeout: Duration::from_secs(2),
            inline_kubeconfig: None,
        };
        let client = Cluster::connect(&options).await.unwrap();
        let check = Check {
            id: "c".into(),
            title: "t".into(),
            hint: "h".into(),
            spec,
            context: None,
            after: Vec::new(),
            held: Default::default(),
        };
        let cache = labs::ClusterCache::default();
        let targets = labs::Targets {
            cache: &cache,
            options: Some(&options),
            bridge: None,
            main: &client,
        };
        labs::run_checks(&targets, &[check], None).await.remove(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_checks_pass_and_fail_on_the_servers_version() {
        let cluster = FakeCluster::start(kind::lab_done()).await;
        let passed = run(
            &cluster,
            CheckSpec::Version(VersionCheck { at_least: (1, 30) }),
        )
        .await;
        assert_eq!(passed.status, Status::Passed);
        cluster.state.lock().unwrap().version = (1, 27);
        let failed = run(
            &cluster,
            CheckSpec::Version(VersionCheck { at_least: (1, 28) }),
        )
        .await;
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(
            failed.message,
            "the server is v1.27.0 (Kubernetes 1.27), at least 1.28 is required"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_api_group_the_cluster_does_not_serve_is_named() {
        let cluster = FakeCluster::start(kind::lab_done()).await;
        let target = |api_version: &str, kind: &str| ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some("default".into()),
            name: "x".into(),
        };
        let missing_group = run(
            &cluster,
            CheckSpec::Resource(ResourceCheck {
                target: target("monitoring.coreos.com/v1", "ServiceMonitor"),
                absent: false,
                fields: vec![],
            }),
        )
        .await;
        assert_eq!(missing_group.status, Status::Error);
        assert_eq!(
            missing_group.message,
            "the cluster does not serve monitoring.coreos.com/v1 (404 on discovery)"
        );
        let missing_kind = run(
            &cluster,
            CheckSpec::Resource(ResourceCheck {
                target: target("apps/v1", "Deploymnet"),
                absent: false,
                fields: vec![],
            }),
        )
        .await;
        assert_eq!(
            missing_kind.message,
            "the cluster serves apps/v1, but it has no kind Deploymnet"
        );
        assert!(
            cluster
                .requests()
                .iter()
                .any(|r| r.starts_with("GET /apis/monitoring.coreos.com/v1")),
            "discovery really asked the server"
        );
    }
}
