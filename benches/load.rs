//! Load, measured: 1,000 concurrent signed-in learners on a portal-mode server (the release binary,
//! its own process) for 60 s, opening module pages and the course home (which reads their progress),
//! running "Check my work" against the Kubernetes API test double, and reading their last run back.
//! Each simulated learner acts about once a second (think time 0.5 to 1.5 s), as people do.
//! Not a test: it prints figures. Targets: zero failed requests, no "database is locked" reaching a
//! learner, page-view p99 under 50 ms.
//!
//!   cargo bench --bench load             # LOAD_LEARNERS=1000 LOAD_SECONDS=60 by default

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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use portal::{env_number, percentile};

const PASSWORD: &str = "load test password";

#[derive(Default)]
struct Stats {
    pages: Vec<Duration>,
    checks: Vec<Duration>,
    reads: Vec<Duration>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let learners = env_number("LOAD_LEARNERS", 1000);
    let seconds = env_number("LOAD_SECONDS", 60) as u64;
    let mut class = portal::Class::start(learners, PASSWORD).await;
    let (base, client) = (class.base.clone(), class.client.clone());

    // Sign everyone in, a few at a time (each sign-in costs one Argon2 verification on the server).
    let started = Instant::now();
    let mut sessions = Vec::with_capacity(learners);
    for chunk in (0..learners).collect::<Vec<_>>().chunks(8) {
        let names: Vec<String> = chunk.iter().map(|i| format!("learner{i}")).collect();
        let logins = names
            .iter()
            .map(|name| session::sign_in(&client, &base, name, PASSWORD));
        sessions.extend(futures::future::join_all(logins).await);
    }
    println!(
        "signed in {learners} learners in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let stats = Arc::new(Mutex::new(Stats::default()));
    let failures = Arc::new(AtomicUsize::new(0));
    let locked = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, (token, csrf))| {
            let (client, base, stats, failures, locked) = (
                client.clone(),
                base.clone(),
                stats.clone(),
                failures.clone(),
                locked.clone(),
            );
            tokio::spawn(async move {
                let mut n: u64 = i as u64;
                while Instant::now() < deadline {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    tokio::time::sleep(Duration::from_millis(500 + (n >> 33) % 1000)).await;
                    let cookie = format!("lectern_session={token}");
                    let (kind, request) = match (n >> 20) % 10 {
                        0 => (
                            "check",
                            client
                                .post(format!(
                                    "{base}/api/labs/ha-control-plane/steps/monitoring-rbac/check"
                                ))
                                .header("x-csrf-token", &csrf)
                                .header("content-type", "application/json")
                                .body("{}"),
                        ),
                        1 => (
                            "read",
                            client.get(format!(
                                "{base}/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest"
                            )),
                        ),
                        2 | 3 => ("page", client.get(format!("{base}/"))),
                        _ => (
                            "page",
                            client.get(format!("{base}/modules/cluster-architecture")),
                        ),
                    };
                    let sent = Instant::now();
                    let outcome = request.header("cookie", cookie).send().await;
                    let ok = match outcome {
                        Ok(response) => {
                            let status = response.status();
                            let body = response.bytes().await.unwrap_or_default();
                            if String::from_utf8_lossy(&body).contains("database is locked") {
                                locked.fetch_add(1, Ordering::Relaxed);
                            }
                            status.is_success()
                        }
                        Err(_) => false,
                    };
                    let took = sent.elapsed();
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut stats = stats.lock().await;
                    match kind {
                        "check" => stats.checks.push(took),
                        "read" => stats.reads.push(took),
                        _ => stats.pages.push(took),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    class.stop();

    let mut guard = stats.lock().await;
    let stats = &mut *guard;
    let total = stats.pages.len() + stats.checks.len() + stats.reads.len();
    println!(
        "{learners} learners for {seconds} s on {} cores: {total} requests ({:.0}/s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        total as f64 / seconds as f64
    );
    portal::print_latencies(
        34,
        vec![
            ("page views (home, module)", &mut stats.pages),
            ("check my work (21 API calls)", &mut stats.checks),
            ("last run", &mut stats.reads),
        ],
    );
    println!(
        "failed requests: {}   (target 0)",
        failures.load(Ordering::Relaxed)
    );
    println!(
        "\"database is locked\" seen by learners: {}   (target 0)",
        locked.load(Ordering::Relaxed)
    );
    println!(
        "page-view p99: {:.1} ms   (target < 50 ms)",
        percentile(&mut stats.pages, 0.99).as_secs_f64() * 1e3
    );
}
