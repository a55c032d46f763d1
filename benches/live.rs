//! Live checks, measured: the time from a change in the cluster to the step's new verdict
//! arriving on a learner's event stream, over 50 changes, for a cluster Lectern watches directly,
//! one it watches through the learner's `lectern connect` (the real binary, protocol version 2),
//! and one that refuses to watch (Lectern polls it every 2 s), beside the peers' way: a loop that runs the
//! step's checks every second. Each change alternates step 2 between one and two worker nodes
//! (the step stays failed; its message changes), against the Kubernetes API test double over
//! HTTPS, whose watchers see the changes as a real API server sends them. Not a test: it prints
//! figures.
//!
//!   cargo bench --bench live

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::browser::signed_in;
use common::events::Events;
use common::kind_fixtures as kind;
use common::kube_api::{FakeCluster, Mode};
use common::{TestApp, lectern_cmd};
use lectern::content::{self, CourseFiles};
use lectern::labs::{self, Cluster, ConnectOptions};
use serde_json::Value;

const CHANGES: usize = 50;
const STEP: &str = "/api/labs/ha-control-plane/steps/create-ha-cluster";
const STREAM: &str = "/api/labs/ha-control-plane/live?page=/bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// The cluster with `workers` worker nodes: step 2 fails either way, saying how many it found.
fn with_workers(workers: usize) -> Vec<Value> {
    let mut objects = kind::single_node_cluster("kind");
    for n in 0..workers {
        objects.push(kind::node(&format!("kind-worker{n}"), false, None, true));
    }
    objects
}

/// What the step's worker check says in a verdict.
fn workers_message(run: &Value) -> String {
    run["results"][1]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn run() {
    let watched = live(Mode::Normal).await;
    let bridged = live_through_bridge().await;
    let polled = live(Mode::ForbidWatch).await;
    let peers = polling_loop().await;
    println!(
        "Step 2's verdict after a change in the cluster, {CHANGES} changes each; Kubernetes API test double on loopback"
    );
    println!("{:<58}{:>10}{:>10}", "", "p50", "p95");
    for (name, samples) in [
        ("Lectern, watching (kube-rs watcher, shared)", &watched),
        ("Lectern, watching through lectern connect", &bridged),
        ("Lectern, cluster refuses watch (polls every 2 s)", &polled),
        ("peers' way: the checks run every 1 s", &peers),
    ] {
        println!(
            "{name:<58}{:>10}{:>10}",
            ms(percentile(samples, 50)),
            ms(percentile(samples, 95))
        );
    }
    for (way, samples) in [
        ("directly", &watched),
        ("through lectern connect", &bridged),
    ] {
        println!(
            "watching {way}: p95 {} (target <= 500 ms), p50 {} (target <= 150 ms)",
            ms(percentile(samples, 95)),
            ms(percentile(samples, 50))
        );
    }
}

/// Step 2 followed on the server's own connection to a cluster in `mode`.
async fn live(mode: Mode) -> Vec<Duration> {
    let cluster = FakeCluster::start(with_workers(0)).await;
    cluster.set_mode(mode);
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    assert_eq!(app.post_check(&format!("{STEP}/start")).await.status(), 200);
    follow(Events::new(app.get(STREAM).await), &cluster).await
}

/// Step 2 followed through a learner's `lectern connect` to the cluster, on a portal.
async fn live_through_bridge() -> Vec<Duration> {
    let cluster = FakeCluster::start(with_workers(0)).await;
    let app = TestApp::spawn_with_config(|c| c.portal = true).await;
    app.add_account("ada", lectern::auth::Role::Learner, None)
        .await;
    let ada = signed_in(&app, "ada").await;
    let (learner,): (i64,) =
        sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ada'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    let code = lectern::bridge::create_code(&app.app.db, learner)
        .await
        .unwrap();
    let token = lectern::bridge::pair(&app.app.db, &code, "bench")
        .await
        .unwrap()
        .token;
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bridges.json"),
        serde_json::json!({ app.url(""): token }).to_string(),
    )
    .unwrap();
    let _connect = tokio::process::Command::from(lectern_cmd())
        .args(["connect", &app.url(""), "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .env("LECTERN_CONFIG_DIR", config.path())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    while app.app.reach.bridges.get(learner).is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = ada.post_json(&format!("{STEP}/start"), "{}").await;
    assert_eq!(started.status(), 200);
    follow(Events::new(ada.get(STREAM).await), &cluster).await
}

/// Follows started step 2 on its stream, and times each change to its verdict.
async fn follow(mut events: Events, cluster: &FakeCluster) -> Vec<Duration> {
    let mut last = events
        .until(Duration::from_secs(10), |e| e.name == "verdict")
        .await;
    let mut samples = Vec::with_capacity(CHANGES);
    for n in 0..CHANGES {
        let before = workers_message(&last.json()["run"]);
        let changed = Instant::now();
        cluster.set_objects(with_workers(1 - n % 2 + 1));
        last = events
            .until(Duration::from_secs(10), |e| {
                e.name == "verdict" && workers_message(&e.json()["run"]) != before
            })
            .await;
        samples.push(changed.elapsed());
        // Changes a little apart, as a learner's commands are.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples
}

/// The peers' way: the step's checks run every second (in process, so only the waiting is
/// measured); the time from a change to the first run that shows it.
async fn polling_loop() -> Vec<Duration> {
    let cluster = FakeCluster::start(with_workers(0)).await;
    let course = content::load(CourseFiles::embedded()).expect("embedded course");
    let (lab, step) = course
        .lab_step("ha-control-plane", "create-ha-cluster")
        .expect("step 2");
    let options = ConnectOptions {
        kubeconfig: Some(cluster.kubeconfig.clone()),
        context: None,
        timeout: Duration::from_secs(5),
        inline_kubeconfig: None,
    };
    let connected = Cluster::connect(&options).await.expect("the double");
    let cache = labs::ClusterCache::default();
    let targets = labs::Targets {
        cache: &cache,
        options: Some(&options),
        bridge: None,
        main: &connected,
    };
    let check = || async {
        let run = labs::run_step(&targets, lab, step, &labs::Moment::default()).await;
        workers_message(&serde_json::to_value(&run).unwrap())
    };
    let mut seen = check().await;
    let mut next_poll = Instant::now() + Duration::from_secs(1);
    let mut samples = Vec::with_capacity(CHANGES);
    for n in 0..CHANGES {
        // The change lands at some moment between two polls.
        let offset = Duration::from_millis((n as u64 * 379) % 1000);
        tokio::time::sleep_until((next_poll - Duration::from_secs(1) + offset).into()).await;
        let changed = Instant::now();
        cluster.set_objects(with_workers(1 - n % 2 + 1));
        loop {
            tokio::time::sleep_until(next_poll.into()).await;
            next_poll += Duration::from_secs(1);
            let now = check().await;
            if now != seen {
                seen = now;
                samples.push(changed.elapsed());
                break;
            }
        }
    }
    samples
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
