//! Live checks at rest, measured: 1,000 learners each start step 2 of module 01 (the step stays
//! failed) and keep the module page's event stream open, then nothing happens for 30 s. Against
//! one portal-mode server (the release binary, its own process, SQLite) checking the Kubernetes API
//! test double on its own connection. Prints the server's CPU while idle (percent of one core), the
//! API requests it made while idle (only the shared watches' bookmarks and the shared 10 s asking
//! of `/version` should remain), and its memory per open page. Not a test: it prints figures.
//!
//!   cargo bench --bench idle            # IDLE_LEARNERS=1000 IDLE_SECONDS=30 by default
//!
//! Targets (issue #26): CPU under 10% of one core; API requests only the shared watches.

#[path = "../tests/common/kind_fixtures.rs"]
#[allow(dead_code, unreachable_pub)]
mod kind_fixtures;
#[path = "../tests/common/kube_api.rs"]
#[allow(dead_code, unreachable_pub)]
mod kube_api;
#[path = "common/portal.rs"]
mod portal;
#[path = "common/session.rs"]
mod session;

use std::time::Duration;

use futures::StreamExt;

use portal::{cpu_seconds, env_number, rss_kib};

const PASSWORD: &str = "idle bench password";
const START: &str = "/api/labs/ha-control-plane/steps/create-ha-cluster/start";
const STREAM: &str = "/api/labs/ha-control-plane/live?page=/modules/cluster-architecture";
/// Learners arriving at once.
const AT_ONCE: usize = 16;
/// Learners behind one address.
const PER_ADDRESS: usize = 200;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let learners = env_number("IDLE_LEARNERS", 1000);
    let seconds = env_number("IDLE_SECONDS", 30) as u64;
    // One socket per page on this side too.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let binary = portal::release_binary();
    let cluster = kube_api::FakeCluster::start(kind_fixtures::single_node_cluster("kind")).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("idle.db").display().to_string();
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    portal::seed_learners(&pool, learners, PASSWORD).await;
    pool.close().await;
    let (server, base) = portal::start_portal(&binary, &db, &cluster.kubeconfig).await;
    let pid = server.id();
    let mut server = KillOnDrop(server);
    // Learners come from many addresses (the server caps connections per address): one client
    // per 200 of them, each from its own loopback address.
    let clients: Vec<reqwest::Client> = (0..learners.div_ceil(PER_ADDRESS))
        .map(|n| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .local_address(std::net::IpAddr::from([127, 0, 1, n as u8 + 1]))
                .build()
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid);

    // Each learner signs in, starts the step and opens the page's stream, which stays open.
    let pages: Vec<reqwest::Response> = futures::stream::iter(0..learners)
        .map(|i| {
            let (client, base) = (clients[i / PER_ADDRESS].clone(), base.clone());
            async move {
                let name = format!("learner{i}");
                let (token, csrf) = session::sign_in(&client, &base, &name, PASSWORD).await;
                let cookie = format!("lectern_session={token}");
                let started = client
                    .post(format!("{base}{START}"))
                    .header("cookie", &cookie)
                    .header("x-csrf-token", &csrf)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                assert!(started.status().is_success(), "{}", started.status());
                let mut page = client
                    .get(format!("{base}{STREAM}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                assert!(page.status().is_success(), "{}", page.status());
                // The first event: the stream is live.
                page.chunk().await.unwrap();
                page
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    // Let every follower reach its first verdict and settle.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let connected = rss_kib(pid);
    let requests_before = cluster.requests().len();
    let watches = cluster
        .served()
        .iter()
        .filter(|s| s.starts_with("watch"))
        .count();
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    let requests = cluster.requests()[requests_before..].to_vec();
    drop(pages);
    server.0.kill().ok();

    println!(
        "{learners} learners, each with step 2 started and the module page's stream open; then {seconds} s with no change"
    );
    println!(
        "server CPU while idle          {:>8.2}% of one core (target < 10%)",
        cpu / seconds as f64 * 100.0
    );
    println!(
        "API requests while idle        {:>8} ({:.2}/s); watch requests made in all: {watches}",
        requests.len(),
        requests.len() as f64 / seconds as f64
    );
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for request in &requests {
        let path = request.split('?').next().unwrap_or(request).to_owned();
        *kinds.entry(path).or_default() += 1;
    }
    for (path, count) in kinds {
        println!("  {count:>6}  {path}");
    }
    println!(
        "server memory                  {:>8} KiB before, {} KiB with the pages open: {:.1} KiB per open page",
        before,
        connected,
        (connected.saturating_sub(before)) as f64 / learners as f64
    );
}

/// The server process, stopped however the benchmark ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
    }
}
