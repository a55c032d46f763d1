//! Live checks: a started step is watched on the learner's cluster and checked again as it
//! changes; the verdicts reach the learner's open pages as server-sent events.

use std::time::Duration;

use crate::common::browser::Browser;
use crate::common::events::{Events, ServerEvent};
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::{FakeCluster, Mode};
use crate::common::{TestApp, check_result};
use lectern::auth::Role;

const STEP: &str = "/api/labs/ha-control-plane/steps/create-ha-cluster";
const STREAM: &str = "/api/labs/ha-control-plane/live?page=/modules/cluster-architecture";

fn is_verdict(status: &'static str) -> impl Fn(&ServerEvent) -> bool {
    move |e| e.name == "verdict" && e.json()["run"]["status"] == status
}

/// Requests the double answered whose method, path and query contain `text`.
fn requests_with(cluster: &FakeCluster, text: &str) -> usize {
    cluster
        .requests()
        .iter()
        .filter(|r| r.contains(text))
        .count()
}

/// A personal-mode server on `cluster` with step 2 started and a page following its lab, which
/// has been told how the step is followed (returned) and seen it fail on the cluster as it is.
async fn following_step_2(cluster: &FakeCluster) -> (TestApp, Events, serde_json::Value) {
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    let started = app.post_check(&format!("{STEP}/start")).await;
    assert_eq!(started.status(), 200);
    let started: serde_json::Value = started.json().await.unwrap();
    assert_eq!(started["step"], "create-ha-cluster");
    assert!(started["started_at"].as_str().unwrap().ends_with('Z'));
    let mut events = Events::new(app.get(STREAM).await);
    let following = events
        .until(Duration::from_secs(10), |e| e.name == "following")
        .await
        .json();
    let failed = events
        .until(Duration::from_secs(10), is_verdict("failed"))
        .await;
    let run = failed.json()["run"].clone();
    assert_eq!(run["step"], "create-ha-cluster");
    assert!(
        run["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("found 1"),
        "the verdict says what it saw, as Check my work does: {run}"
    );
    (app, events, following)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_step_turns_green_as_the_cluster_changes_without_a_click() {
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    let (app, mut events, following) = following_step_2(&cluster).await;
    assert_eq!(following["mode"], "watching");
    assert!(
        following["message"]
            .as_str()
            .unwrap()
            .contains("checked as it changes"),
        "{following}"
    );
    assert!(cluster.watches_of("nodes") >= 1, "{:?}", cluster.served());

    // Idle: bookmarks arrive each second, and nothing is asked again.
    let lists = requests_with(&cluster, "GET /api/v1/nodes");
    let watches_before = cluster.watches_of("nodes");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        requests_with(&cluster, "GET /api/v1/nodes"),
        lists,
        "an unchanged cluster costs no requests but the watches: {:?}",
        cluster.requests()
    );
    assert_eq!(cluster.watches_of("nodes"), watches_before);

    cluster.set_objects(kind::lab_complete());
    let passed = events
        .until(Duration::from_secs(5), is_verdict("passed"))
        .await;
    assert!(passed.json()["run"]["passed_at"].is_string());
    let stopped = events
        .until(Duration::from_secs(5), |e| e.name == "stopped")
        .await;
    assert_eq!(stopped.json()["reason"], "passed");

    // The pass was recorded like any run, and following it stopped: its watches are gone.
    let latest: serde_json::Value = app
        .get(&format!("{STEP}/runs/latest"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest["status"], "passed");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.app.live.watches_running() > 0 {
        assert!(std::time::Instant::now() < deadline, "the watches stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_a_dropped_connection_and_list_again_after_410_gone() {
    let mut objects = kind::single_node_cluster("kind");
    let cluster = FakeCluster::start(objects.clone()).await;
    let (_app, mut events, following) = following_step_2(&cluster).await;
    assert_eq!(following["mode"], "watching");

    // The connection breaks, and the cluster changes before the watch is back: the watch resumes
    // from its resourceVersion and sees the change.
    cluster.drop_watches();
    objects.push(kind::node("kind-worker", false, None, true));
    cluster.set_objects(objects.clone());
    let verdict = events
        .until(Duration::from_secs(10), |e| {
            e.name == "verdict"
                && e.json()["run"]["results"][1]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("found 1"))
        })
        .await;
    assert_eq!(verdict.json()["run"]["status"], "failed");

    // Compacted away: the resumed watch gets 410 Gone, lists again, and goes on.
    let relists = requests_with(&cluster, "limit=500");
    cluster.compact();
    cluster.drop_watches();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while requests_with(&cluster, "limit=500") == relists {
        assert!(
            std::time::Instant::now() < deadline,
            "listed again: {:?}",
            cluster.requests()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.set_objects(kind::lab_complete());
    events
        .until(Duration::from_secs(10), is_verdict("passed"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_refuses_to_watch_is_polled_and_the_page_is_told() {
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    cluster.set_mode(Mode::ForbidWatch);
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    assert_eq!(app.post_check(&format!("{STEP}/start")).await.status(), 200);
    let mut events = Events::new(app.get(STREAM).await);
    // The page may first hear "watching": the refusal comes with the first watch's answer.
    let following = events
        .until(Duration::from_secs(10), |e| {
            e.name == "following" && e.json()["mode"] == "polling"
        })
        .await
        .json();
    let message = following["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("Checking every 2 s: the cluster does not let Lectern watch Nodes")
            && message.contains("cannot watch resource \"nodes\""),
        "{message}"
    );
    cluster.set_objects(kind::lab_complete());
    events
        .until(Duration::from_secs(8), is_verdict("passed"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_on_one_cluster_share_its_watches_and_see_only_their_own_verdicts() {
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
    })
    .await;
    let mut streams = Vec::new();
    for name in ["ada", "grace"] {
        app.add_account(name, Role::Learner, None).await;
        let mut browser = Browser::new(&app);
        browser.sign_in_as(name, crate::common::PASSWORD).await;
        let started = browser.post_json(&format!("{STEP}/start"), "{}").await;
        assert_eq!(started.status(), 200);
        let mut events = Events::new(browser.get(STREAM).await);
        events
            .until(Duration::from_secs(10), is_verdict("failed"))
            .await;
        streams.push((browser, events));
    }
    // Step 2 reads four sets of nodes (three label selectors and one name) and the version; both
    // learners follow it on the same cluster through the same four watches and one asking of
    // `/version`.
    assert_eq!(app.app.live.watches_running(), 5);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cluster.watches_of("nodes") < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            cluster.served()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cluster.watches_of("nodes"), 4, "{:?}", cluster.served());

    // The cluster is done: each learner's page hears their own recorded pass.
    cluster.set_objects(kind::lab_complete());
    let (_, ada) = &mut streams[0];
    let passed = ada
        .until(Duration::from_secs(5), is_verdict("passed"))
        .await;
    let ada_run = passed.json()["run"]["id"].clone();
    let (_, grace) = &mut streams[1];
    let passed = grace
        .until(Duration::from_secs(5), is_verdict("passed"))
        .await;
    assert_ne!(
        passed.json()["run"]["id"],
        ada_run,
        "each learner's own run"
    );
}

#[tokio::test]
async fn starting_a_step_needs_json_and_a_real_step() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url(&format!("{STEP}/start")))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "a cross-site form cannot start a step"
    );
    let response = app
        .post_check("/api/labs/ha-control-plane/steps/no-such-step/start")
        .await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "lab `ha-control-plane` has no step `no-such-step`"
    );
    let response = app.get("/api/labs/no-such-lab/live").await;
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_seen_happening_while_the_step_is_followed() {
    let ha = FakeCluster::start(kind::lab_done()).await;
    let solo = FakeCluster::start(kind::solo_before_snapshot()).await;
    let app = TestApp::spawn_with_cluster(&ha.kubeconfig_with(&solo, "kind-solo")).await;
    let step = "/api/labs/ha-control-plane/steps/backup-and-restore";
    assert_eq!(app.post_check(&format!("{step}/start")).await.status(), 200);
    let mut events = Events::new(app.get(STREAM).await);
    let result = |e: &ServerEvent, id: &str| check_result(&e.json()["run"], id).clone();
    // The state a restore leaves, with nothing seen before it: not proved.
    let unproved = events
        .until(Duration::from_secs(10), is_verdict("failed"))
        .await;
    assert_eq!(
        result(&unproved, "configmap-after-snapshot-seen")["status"],
        "failed"
    );

    // The learner creates the objects the snapshot will not hold: Lectern sees them...
    solo.set_objects(kind::solo_not_restored());
    events
        .until(Duration::from_secs(10), |e| {
            e.name == "verdict" && result(e, "configmap-after-snapshot-seen")["status"] == "passed"
        })
        .await;
    // ...and then sees them gone after the restore (the API server restarted: its watches end and
    // resume past the bumped revision, so they list again), with nobody pressing a button.
    kind::restore_solo(&solo);
    let restored = events
        .until(Duration::from_secs(10), is_verdict("passed"))
        .await;
    let seen = result(&restored, "configmap-after-snapshot-seen");
    assert!(
        seen["message"].as_str().unwrap().starts_with("seen at 20"),
        "{seen}"
    );
    assert_eq!(
        seen["observed"]["seen"]["fields"]["data.taken"][0], "after",
        "{seen}"
    );
}
