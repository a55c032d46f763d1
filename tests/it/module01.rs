//! Every check of module 01's lab, step by step, against the Kubernetes API double in the states a
//! learner's cluster goes through: not done, half done, broken, mid-failure, repaired. A check must
//! pass when its step was done and fail, with a message that says what was seen, when it was not.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::kind_fixtures::{self as kind};
use crate::common::kube_api::FakeCluster;
use crate::common::{TestApp, check_result, lectern_cmd};

/// One step's results by check id: (status, message).
struct StepResults {
    code: i32,
    results: BTreeMap<String, (String, String)>,
    hints: BTreeMap<String, String>,
}

impl StepResults {
    fn status(&self, id: &str) -> &str {
        &self
            .results
            .get(id)
            .unwrap_or_else(|| panic!("no check {id}: {:?}", self.results))
            .0
    }

    fn message(&self, id: &str) -> &str {
        &self.results[id].1
    }

    fn hint(&self, id: &str) -> &str {
        &self.hints[id]
    }

    /// Asserts the status of every check: the ids listed as passing pass, every other one fails.
    fn expect_passing(&self, passing: &[&str]) {
        for (id, (status, message)) in &self.results {
            let expected = if passing.contains(&id.as_str()) {
                "passed"
            } else {
                "failed"
            };
            assert_eq!(
                status, expected,
                "check {id}: {message}\n{:#?}",
                self.results
            );
        }
        for id in passing {
            assert!(self.results.contains_key(*id), "no check {id}");
        }
    }

    fn expect_all_pass(&self) {
        let ids: Vec<&str> = self.results.keys().map(String::as_str).collect();
        self.expect_passing(&ids);
        assert_eq!(self.code, 0);
    }
}

async fn step_with(kubeconfig: &Path, step: u32, extra: &[&str]) -> StepResults {
    let dir = tempfile::tempdir().unwrap();
    step_in(dir.path(), kubeconfig, step, extra).await
}

/// `lectern lab check` of one step with its database in `dir`: runs in the same `dir` share the
/// step's start and what was seen since.
async fn step_in(dir: &Path, kubeconfig: &Path, step: u32, extra: &[&str]) -> StepResults {
    let mut cmd = lectern_cmd();
    cmd.args([
        "lab",
        "check",
        "ha-control-plane",
        "--output",
        "json",
        "--kubeconfig",
    ])
    .arg(kubeconfig)
    .arg("--db")
    .arg(dir.join("l.db"))
    .args(["--step", &step.to_string()])
    .args(extra);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let hints = doc["steps"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["hint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let results = doc["steps"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                (
                    r["status"].as_str().unwrap().to_owned(),
                    r["message"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    StepResults {
        code: output.status.code().unwrap_or(-1),
        results,
        hints,
    }
}

async fn step(cluster: &FakeCluster, step: u32) -> StepResults {
    step_with(&cluster.kubeconfig, step, &[]).await
}

/// The cluster after steps 2 to 4, before the drill.
fn before_the_drill() -> Vec<Value> {
    kind::with_monitoring_rbac(kind::ha_cluster())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_two_needs_five_zoned_nodes_on_a_recent_kubernetes() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    step(&cluster, 2).await.expect_all_pass();

    cluster.state.lock().unwrap().version = (1, 35);
    let old = step(&cluster, 2).await;
    assert_eq!(
        old.message("server-version"),
        "the server is v1.35.0 (Kubernetes 1.35), at least 1.36 is required"
    );
    old.expect_passing(&[
        "control-plane-nodes",
        "worker-nodes",
        "zone-labels",
        "third-control-plane-zone",
    ]);

    cluster.state.lock().unwrap().version = (1, 36);
    cluster.set_objects(kind::single_node_cluster("kind"));
    let single = step(&cluster, 2).await;
    single.expect_passing(&["server-version"]);
    assert_eq!(
        single.message("control-plane-nodes"),
        "found 1 Ready Node matching node-role.kubernetes.io/control-plane, expected 3: kind-control-plane"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_three_sees_a_lost_member_take_its_api_server_with_it() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    step(&cluster, 3).await.expect_all_pass();

    // A paused control-plane node: its static pods are marked not Ready.
    let mut objects = kind::ha_cluster();
    kind::pause_node(&mut objects, "k8s-ha-control-plane2");
    cluster.set_objects(objects);
    let degraded = step(&cluster, 3).await;
    degraded.expect_passing(&["api-server-ready"]);
    assert_eq!(
        degraded.message("etcd-members"),
        "found 2 Ready Pods matching component=etcd in namespace kube-system, expected 3: etcd-k8s-ha-control-plane, etcd-k8s-ha-control-plane3 (not Ready: etcd-k8s-ha-control-plane2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_four_proves_reads_leases_and_metrics_and_nothing_more() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let fresh = step(&cluster, 4).await;
    // Nothing built: nothing passes, not even "cannot delete pods", which would hold vacuously
    // for an identity that does not exist yet; it says what to do first.
    fresh.expect_passing(&[]);
    for id in [
        "monitor-cannot-take-leases",
        "monitor-cannot-delete-pods",
        "monitor-cannot-read-secrets",
    ] {
        assert!(
            fresh.message(id).starts_with(
                "not yet: this counts once “ClusterRoleBinding control-plane-monitor binds the ClusterRole to the service account in monitoring” passes (now: ServiceAccount monitoring/control-plane-monitor may not "
            ),
            "{id}: {}",
            fresh.message(id)
        );
    }
    assert_eq!(
        fresh.message("monitor-can-scrape-metrics"),
        "ServiceAccount monitoring/control-plane-monitor may not get /metrics (a non-resource URL): no RBAC binding grants it; expected it to be allowed"
    );

    cluster.set_objects(before_the_drill());
    let done = step(&cluster, 4).await;
    done.expect_all_pass();
    assert!(
        done.message("monitor-can-scrape-metrics").starts_with(
            "ServiceAccount monitoring/control-plane-monitor may get /metrics (a non-resource URL) (RBAC: allowed by ClusterRoleBinding \"control-plane-monitor\""
        ),
        "{}",
        done.message("monitor-can-scrape-metrics")
    );

    // The slips the review found: services left out (the rule check alone passed), leases put in
    // the core group, and /metrics forgotten.
    let mut objects = before_the_drill();
    kind::replace(
        &mut objects,
        "ClusterRole",
        "control-plane-monitor",
        Some(kind::cluster_role(
            "control-plane-monitor",
            serde_json::json!([
                { "apiGroups": [""], "resources": ["nodes", "pods", "leases"], "verbs": ["get", "list", "watch"] },
            ]),
        )),
    );
    cluster.set_objects(objects);
    let slips = step(&cluster, 4).await;
    assert_eq!(slips.status("monitor-can-list-services"), "failed");
    assert_eq!(slips.status("monitor-can-read-leases"), "failed");
    assert_eq!(slips.status("monitor-can-scrape-metrics"), "failed");
    assert_eq!(
        slips.message("monitor-cluster-role"),
        "found ClusterRole control-plane-monitor, but no element of rules has nonResourceURLs containing \"/metrics\" and verbs containing \"get\" (1 element checked: it has no field nonResourceURLs)"
    );
    assert_eq!(slips.status("monitor-can-list-pods"), "passed");

    // Write verbs on Leases would let the monitor take over leader election.
    let mut objects = before_the_drill();
    kind::replace(
        &mut objects,
        "ClusterRole",
        "control-plane-monitor",
        Some(kind::cluster_role(
            "control-plane-monitor",
            serde_json::json!([
                { "apiGroups": [""], "resources": ["nodes", "pods", "services"], "verbs": ["get", "list", "watch"] },
                { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "update"] },
                { "nonResourceURLs": ["/metrics"], "verbs": ["get"] },
            ]),
        )),
    );
    cluster.set_objects(objects);
    let writer = step(&cluster, 4).await;
    writer.expect_passing(&[
        "monitoring-namespace",
        "monitor-service-account",
        "monitor-binding",
        "monitor-can-list-pods",
        "monitor-can-watch-nodes",
        "monitor-can-list-services",
        "monitor-can-read-leases",
        "monitor-can-scrape-metrics",
        "monitor-cannot-delete-pods",
        "monitor-cannot-read-secrets",
    ]);
    assert_eq!(
        writer.message("monitor-cluster-role"),
        "found ClusterRole control-plane-monitor, but rules[*].verbs is [\"get\",\"list\",\"watch\",\"update\"], expected only values from [\"get\",\"list\",\"watch\"]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_five_passes_only_while_the_lease_holder_is_down() {
    let cluster = FakeCluster::start(before_the_drill()).await;
    let never_done = step(&cluster, 5).await;
    never_done.expect_passing(&[]);
    assert_eq!(never_done.code, 1);
    assert_eq!(
        never_done.message("controller-manager-failed-over"),
        "found Lease kube-system/kube-controller-manager, but spec.leaseTransitions is 0, expected at least 1"
    );
    assert!(
        never_done
            .message("probe-runs-during-outage")
            .starts_with("Deployment default/probe not found"),
        "{}",
        never_done.message("probe-runs-during-outage")
    );

    // Mid-failure: the holder paused, a node Unknown, its mirror pods not Ready, probe created.
    let mut objects = before_the_drill();
    kind::pause_node(&mut objects, "k8s-ha-control-plane");
    kind::create_probe(&mut objects);
    cluster.set_objects(objects);
    let mid = step(&cluster, 5).await;
    mid.expect_all_pass();
    assert_eq!(
        mid.message("controller-manager-failed-over"),
        "found Lease kube-system/kube-controller-manager: spec.leaseTransitions is 1"
    );

    // After recovery the outage checks no longer hold: they describe the cluster mid-failure.
    cluster.set_objects(kind::lab_done());
    step(&cluster, 5)
        .await
        .expect_passing(&["probe-runs-during-outage", "controller-manager-failed-over"]);

    // A worker paused instead: four Ready nodes, but the control plane was never tested.
    let mut objects = before_the_drill();
    kind::pause_node(&mut objects, "k8s-ha-worker");
    kind::create_probe(&mut objects);
    cluster.set_objects(objects);
    let worker = step(&cluster, 5).await;
    worker.expect_passing(&["four-nodes-ready", "probe-runs-during-outage"]);
    assert_eq!(
        worker.message("one-control-plane-down"),
        "found 3 Ready Nodes matching node-role.kubernetes.io/control-plane, expected 2: k8s-ha-control-plane, k8s-ha-control-plane2, k8s-ha-control-plane3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_six_needs_the_drill_done_and_the_node_back() {
    let cluster = FakeCluster::start(before_the_drill()).await;
    let never_done = step(&cluster, 6).await;
    never_done.expect_passing(&[]);
    assert_eq!(
        never_done.message("all-nodes-ready"),
        "not yet: this counts once “The paused node came back: its kubelet reported it Ready again” passes (now: found 5 Ready Nodes, expected 5: k8s-ha-control-plane, k8s-ha-control-plane2, k8s-ha-control-plane3, k8s-ha-worker, k8s-ha-worker2)"
    );
    assert_eq!(
        never_done.hint("all-nodes-ready"),
        never_done.hint("node-came-back"),
        "what to do next is the missing evidence's hint"
    );
    assert!(
        never_done.message("node-came-back").starts_with(
            "not yet: this counts once “The kube-controller-manager Lease changed hands during the drill” passes"
        ),
        "a return means something only after a drill: {}",
        never_done.message("node-came-back")
    );

    // The node is still paused: the drill's traces are there. Checked without Start, the step
    // has no start to count events from (see `only_what_happens_after_a_step_starts_counts`), so
    // the nodes' NodeReady events from the cluster's creation pass the return; the nodes
    // themselves say it is still down.
    let mut mid = before_the_drill();
    kind::pause_node(&mut mid, "k8s-ha-control-plane");
    kind::create_probe(&mut mid);
    cluster.set_objects(mid);
    let still_down = step(&cluster, 6).await;
    still_down.expect_passing(&[
        "leadership-moved",
        "probe-survived",
        "node-came-back",
        "api-server-ready-again",
    ]);
    assert!(
        still_down
            .message("all-nodes-ready")
            .ends_with("(not Ready: k8s-ha-control-plane)"),
        "{}",
        still_down.message("all-nodes-ready")
    );

    // A second node paused as well: the quorum is lost and every API server's etcd check fails.
    let mut no_quorum = kind::mid_failure();
    kind::pause_node(&mut no_quorum, "k8s-ha-control-plane2");
    cluster.set_objects(no_quorum);
    cluster.set_health("etcd", false);
    let lost = step(&cluster, 6).await;
    assert_eq!(
        lost.message("api-server-ready-again"),
        "/readyz answered 500; failing checks: etcd; etcd failed: reason withheld"
    );
    cluster.set_health("etcd", true);

    cluster.set_objects(kind::lab_done());
    let recovered = step(&cluster, 6).await;
    recovered.expect_all_pass();
    assert_eq!(
        recovered.message("node-came-back"),
        "found 5 NodeReady events about any Node; the latest, about k8s-ha-control-plane: \"Node k8s-ha-control-plane status is now: NodeReady\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_seven_asks_the_second_cluster_through_its_own_context() {
    let ha = FakeCluster::start(kind::lab_done()).await;
    let solo = FakeCluster::start(kind::single_node_cluster("solo")).await;

    // No solo cluster yet: the kubeconfig has no kind-solo context. That is a step not done (exit
    // 1, failed), not a broken connection.
    let no_solo = step(&ha, 7).await;
    assert_eq!(no_solo.code, 1);
    no_solo.expect_passing(&["still-on-the-ha-cluster"]);
    assert_eq!(
        no_solo.message("solo-cluster-up"),
        "the kubeconfig has no context `kind-solo` (it has: kind-k8s-ha)"
    );
    assert!(
        no_solo
            .hint("namespace-after-snapshot-gone")
            .starts_with("This check asks the cluster of the kubeconfig context `kind-solo`, which does not exist yet"),
        "the author's hint is about a restore that did not work, not a missing cluster"
    );

    // One learner's database: the step's start and what was seen since are kept between checks.
    let db = tempfile::tempdir().unwrap();
    let both = ha.kubeconfig_with(&solo, "kind-solo");
    let fresh_solo = step_in(db.path(), &both, 7, &[]).await;
    // Nothing made after the snapshot was ever seen: their absence proves no restore.
    fresh_solo.expect_passing(&["still-on-the-ha-cluster", "solo-cluster-up"]);
    assert!(
        fresh_solo
            .message("namespace-after-snapshot-gone")
            .starts_with("not yet: this counts once “On solo, Lectern saw the ConfigMap created after the snapshot, before the restore” passes"),
        "{}",
        fresh_solo.message("namespace-after-snapshot-gone")
    );

    solo.set_objects(kind::solo_not_restored());
    let not_restored = step_in(db.path(), &both, 7, &[]).await;
    not_restored.expect_passing(&[
        "still-on-the-ha-cluster",
        "solo-cluster-up",
        "namespace-before-snapshot-restored",
        "configmap-before-snapshot-restored",
        "configmap-after-snapshot-seen",
    ]);
    assert_eq!(
        not_restored.message("namespace-after-snapshot-gone"),
        "Namespace after-snapshot exists, but it should not"
    );

    kind::restore_solo(&solo);
    let restored = step_in(db.path(), &both, 7, &[]).await;
    restored.expect_all_pass();
    let seen = restored.message("configmap-after-snapshot-seen");
    assert!(
        seen.starts_with("seen at 20")
            && seen.contains("ConfigMap after-snapshot/marker")
            && seen.contains("(now: ConfigMap after-snapshot/marker not found"),
        "{seen}"
    );
    // The same cluster checked once, by a learner Lectern never saw create the objects: not proved.
    let one_instant = step_with(&both, 7, &[]).await;
    assert_eq!(one_instant.code, 1);
    one_instant.expect_passing(&[
        "still-on-the-ha-cluster",
        "solo-cluster-up",
        "namespace-before-snapshot-restored",
        "configmap-before-snapshot-restored",
        "solo-revision-bumped",
    ]);
    assert!(
        solo.requests()
            .iter()
            .any(|r| r.contains("/namespaces/before-snapshot")),
        "the solo checks asked the solo cluster"
    );
    assert!(
        !ha.requests().iter().any(|r| r.contains("before-snapshot")),
        "and not the HA cluster"
    );

    // Left on kind-solo after `kind create cluster --name solo`: the step's unscoped check sees one
    // control plane and says so.
    let left_on_solo = step_in(db.path(), &both, 7, &["--context", "kind-solo"]).await;
    left_on_solo.expect_passing(&[
        "configmap-after-snapshot-seen",
        "solo-revision-bumped",
        "solo-cluster-up",
        "namespace-before-snapshot-restored",
        "configmap-before-snapshot-restored",
        "namespace-after-snapshot-gone",
        "configmap-after-snapshot-gone",
    ]);
    assert!(
        left_on_solo
            .message("still-on-the-ha-cluster")
            .starts_with("found 1 Node matching node-role.kubernetes.io/control-plane, expected 3"),
        "{}",
        left_on_solo.message("still-on-the-ha-cluster")
    );

    // The marker created again by hand after the restore is not the snapshot's: its
    // resourceVersion is past the bump.
    let mut without_marker = kind::solo_restored();
    without_marker.retain(|o| o["metadata"]["name"] != "marker");
    solo.set_objects(without_marker);
    solo.set_objects(kind::solo_restored());
    let recreated = step_with(&both, 7, &[]).await;
    assert!(
        recreated
            .message("configmap-before-snapshot-restored")
            .contains("metadata.resourceVersion is \"10000"),
        "{}",
        recreated.message("configmap-before-snapshot-restored")
    );

    // (Last: the kubeconfig naming kind-solo now points at another double.)
    // The objects deleted with kubectl instead of a restore: gone, but etcd's revision never
    // jumped, so the node Lease the kubelet renews gives it away.
    let deleted = tempfile::tempdir().unwrap();
    let other = FakeCluster::start(kind::solo_not_restored()).await;
    let other_both = ha.kubeconfig_with(&other, "kind-solo");
    step_in(deleted.path(), &other_both, 7, &[]).await;
    other.set_objects(kind::solo_restored());
    let by_kubectl = step_in(deleted.path(), &other_both, 7, &[]).await;
    assert_eq!(by_kubectl.code, 1);
    by_kubectl.expect_passing(&[
        "still-on-the-ha-cluster",
        "solo-cluster-up",
        "namespace-before-snapshot-restored",
        "configmap-before-snapshot-restored",
        "configmap-after-snapshot-seen",
        "namespace-after-snapshot-gone",
        "configmap-after-snapshot-gone",
    ]);
    assert!(
        by_kubectl
            .message("solo-revision-bumped")
            .contains("metadata.resourceVersion is"),
        "{}",
        by_kubectl.message("solo-revision-bumped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_eight_fails_while_no_scheduler_runs() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    step(&cluster, 8).await.expect_passing(&[]);

    let mut broken = kind::lab_done();
    kind::schedulers_parked(&mut broken);
    cluster.set_objects(broken.clone());
    let parked = step(&cluster, 8).await;
    parked.expect_passing(&[]);
    assert!(
        parked.message("schedulers-ready").ends_with(
            "(now: found 0 Ready Pods matching component=kube-scheduler in namespace kube-system, expected 3)"
        ),
        "{}",
        parked.message("schedulers-ready")
    );
    assert_eq!(
        parked.message("web-ready"),
        "found Deployment troubleshoot/web, but it has no field status.readyReplicas"
    );

    kind::schedulers_back(&mut broken);
    cluster.set_objects(broken);
    let fixed = step(&cluster, 8).await;
    fixed.expect_all_pass();
    assert!(
        fixed
            .message("web-scheduled")
            .starts_with("found 2 Scheduled events whose message matches /^Successfully assigned troubleshoot/web-/ about any Pod in namespace troubleshoot"),
        "{}",
        fixed.message("web-scheduled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_nine_fails_while_an_api_server_crash_loops() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    step(&cluster, 9).await.expect_passing(&[]);

    // kubeadm's local mode: the node's kubelet lost its API server, so the node is Unknown and
    // its mirror pod still shows the old, correct spec.
    let mut local = kind::lab_done();
    kind::api_server_broken(&mut local, false);
    cluster.set_objects(local.clone());
    let local_mode = step(&cluster, 9).await;
    // The stale mirror pod shows the old, right flag: not counted while an API server is down.
    local_mode.expect_passing(&["control-plane3-was-down"]);
    assert!(
        local_mode
            .message("authorization-mode-restored")
            .starts_with("not yet: this counts once “An API server runs Ready on every control-plane node” passes"),
        "{}",
        local_mode.message("authorization-mode-restored")
    );
    // The node's failure is explained by its Ready condition, not by its first (MemoryPressure).
    assert_eq!(
        local_mode.message("control-plane3-ready"),
        "found Node k8s-ha-control-plane3, but no element of status.conditions has type = \"Ready\" and status = \"True\" (4 elements checked; the closest: status is \"Unknown\", expected \"True\")"
    );

    // A kubelet that still reaches the API: the mirror pod shows the typo.
    let mut via_lb = kind::lab_done();
    kind::api_server_broken(&mut via_lb, true);
    cluster.set_objects(via_lb);
    let typo = step(&cluster, 9).await;
    assert_eq!(typo.status("api-servers-ready"), "failed");
    assert_eq!(typo.status("authorization-mode-restored"), "failed");

    // The flag written the other way round authorizes the same: it counts. `AlwaysAllow` does not,
    // and the message quotes the flag, not the command's first element.
    let mut swapped = local.clone();
    kind::api_server_fixed(&mut swapped);
    kind::set_authorization_mode(&mut swapped, "RBAC,Node");
    cluster.set_objects(swapped.clone());
    step(&cluster, 9).await.expect_all_pass();
    kind::set_authorization_mode(&mut swapped, "AlwaysAllow");
    cluster.set_objects(swapped);
    let allow_all = step(&cluster, 9).await;
    let message = allow_all.message("authorization-mode-restored");
    assert!(
        message.ends_with("elements checked; the closest: (the element) is \"--authorization-mode=AlwaysAllow\", expected it to match /^--authorization-mode=(Node,RBAC|RBAC,Node)$/)"),
        "{message}"
    );

    kind::api_server_fixed(&mut local);
    cluster.set_objects(local.clone());
    step(&cluster, 9).await.expect_all_pass();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_ten_fails_while_a_kubelet_is_stopped() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    step(&cluster, 10).await.expect_passing(&[]);

    let mut objects = kind::lab_done();
    kind::kubelet_stopped(&mut objects);
    cluster.set_objects(objects.clone());
    let stopped = step(&cluster, 10).await;
    stopped.expect_passing(&["worker2-was-down"]);
    assert!(
        stopped
            .message("worker2-ready")
            .ends_with("elements checked; the closest: status is \"Unknown\", expected \"True\")"),
        "{}",
        stopped.message("worker2-ready")
    );

    kind::kubelet_started(&mut objects);
    cluster.set_objects(objects);
    step(&cluster, 10).await.expect_all_pass();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_eleven_checks_a_namespaced_grant_and_the_schedulers_explanation() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    step(&cluster, 11)
        .await
        .expect_passing(&["config-reader-not-elsewhere", "config-reader-no-secrets"]);

    let mut objects = kind::lab_done();
    kind::practice_rbac_and_scheduling(&mut objects);
    cluster.set_objects(objects.clone());
    let done = step(&cluster, 11).await;
    done.expect_all_pass();
    assert!(
        done.message("too-big-explained")
            .contains("2 Insufficient memory"),
        "{}",
        done.message("too-big-explained")
    );

    // A ClusterRoleBinding instead of the RoleBinding grants every namespace.
    objects.retain(|o| o["kind"] != "RoleBinding");
    objects.push(kind::cluster_role_binding(
        "config-reader",
        "view",
        serde_json::json!([ { "kind": "ServiceAccount", "name": "config-reader", "namespace": "practice" } ]),
    ));
    cluster.set_objects(objects);
    let too_wide = step(&cluster, 11).await;
    assert_eq!(too_wide.status("config-reader-not-elsewhere"), "failed");
    assert_eq!(too_wide.status("config-reader-reads-configmaps"), "passed");
    assert_eq!(too_wide.status("config-reader-no-secrets"), "passed");

    // A Role over every resource of the core group covers Secrets.
    let mut objects = kind::lab_done();
    kind::practice_rbac_and_scheduling(&mut objects);
    kind::replace(
        &mut objects,
        "Role",
        "configmap-reader",
        Some(
            serde_json::json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "configmap-reader", "namespace": "practice" }, "rules": [ { "apiGroups": [""], "resources": ["*"], "verbs": ["get", "list", "watch"] } ] }),
        ),
    );
    cluster.set_objects(objects);
    let secrets = step(&cluster, 11).await;
    assert_eq!(secrets.status("config-reader-no-secrets"), "failed");
    assert!(
        secrets
            .message("config-reader-no-secrets")
            .starts_with("ServiceAccount practice/config-reader may get secrets in namespace practice (RBAC: allowed by RoleBinding"),
        "{}",
        secrets.message("config-reader-no-secrets")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_twelve_sees_policies_flags_and_aggregated_apis() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    step(&cluster, 12).await.expect_passing(&[]);

    let mut objects = kind::lab_done();
    kind::practice_rbac_and_scheduling(&mut objects);
    kind::practice_extensions(&mut objects);
    cluster.set_objects(objects.clone());
    step(&cluster, 12).await.expect_all_pass();

    kind::metrics_server_without_insecure_tls(&mut objects);
    cluster.set_objects(objects);
    let no_tls_flag = step(&cluster, 12).await;
    no_tls_flag.expect_passing(&[
        "limits-policy",
        "limits-policy-enforced",
        "audit-logging",
        "audited-api-server-ready",
        "bin-packing-pod",
        "packed-bound-by-a-scheduler",
    ]);
    assert_eq!(
        no_tls_flag.message("metrics-api-available"),
        "found APIService v1beta1.metrics.k8s.io, but no element of status.conditions has type = \"Available\" and status = \"True\" (1 element checked: status is \"False\", expected \"True\")"
    );
}

/// "Check my work" of a step through the web, as the page sends it.
async fn check_step(app: &TestApp, step: &str) -> Value {
    let response = app
        .post_check(&format!("/api/labs/ha-control-plane/steps/{step}/check"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn message_of<'a>(run: &'a Value, check: &str) -> &'a str {
    check_result(run, check)["message"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_happens_after_a_step_starts_counts() {
    let cluster = FakeCluster::start(kind::mid_failure()).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    // Step 5 passes during the outage; the learner starts step 6. The node's NodeReady from
    // the cluster's creation is older and does not count.
    assert_eq!(
        check_step(&app, "lose-a-control-plane-node").await["status"],
        "passed"
    );
    let started = app
        .post_check("/api/labs/ha-control-plane/steps/recover/start")
        .await;
    assert_eq!(started.status(), 200);
    let still_paused = check_step(&app, "recover").await;
    assert_eq!(still_paused["status"], "failed");
    let message = message_of(&still_paused, "node-came-back");
    assert!(
        message.starts_with("no NodeReady event about any Node since this step started at 20")
            && message.contains("the 5 from before then (the latest at 2026-11-25T09:00:30Z")
            && message.ends_with("belong to an earlier step and do not count: do it now"),
        "{message}"
    );
    // The node is unpaused: its kubelet's NodeReady is new, and the step passes.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    cluster.set_objects(kind::lab_done());
    let back = check_step(&app, "recover").await;
    assert_eq!(back["status"], "passed", "{back:#}");

    // Step 9 done once, and then started again: that outage belongs to the earlier try.
    let mut objects = kind::lab_done();
    kind::api_server_broken(&mut objects, false);
    kind::api_server_fixed(&mut objects);
    cluster.set_objects(objects.clone());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let started = app
        .post_check("/api/labs/ha-control-plane/steps/fix-an-api-server/start")
        .await;
    assert_eq!(started.status(), 200);
    let leftover = check_step(&app, "fix-an-api-server").await;
    assert_eq!(leftover["status"], "failed");
    let message = message_of(&leftover, "control-plane3-was-down");
    assert!(
        message.contains("the one from before then") && message.ends_with("do it now"),
        "{message}"
    );
    // Broken and repaired again: the node controller records the same event again, its count
    // and time moving on.
    kind::api_server_broken(&mut objects, false);
    kind::api_server_fixed(&mut objects);
    cluster.set_objects(objects);
    assert_eq!(
        check_step(&app, "fix-an-api-server").await["status"],
        "passed"
    );
}
