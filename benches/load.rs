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
#[path = "common/session.rs"]
mod session;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

const PASSWORD: &str = "load test password";

#[derive(Default)]
struct Stats {
    pages: Vec<Duration>,
    checks: Vec<Duration>,
    reads: Vec<Duration>,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1]
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(root)
            .status()
            .unwrap()
            .success()
    );

    let cluster = kube_api::FakeCluster::start(kind_fixtures::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");

    // Accounts straight into the database (one Argon2 hash shared: hashing is not what is measured).
    let pool = lectern::db::open(&db).await.unwrap();
    let hash = lectern::auth::Hasher::default()
        .hash(PASSWORD)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..learners {
        let (id,): (i64,) = sqlx::query_as("INSERT INTO learners (name) VALUES (?) RETURNING id")
            .bind(format!("load{i}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO accounts (learner_id, username, role, password_hash, cohort) VALUES (?, ?, 'learner', ?, 'load')")
            .bind(id)
            .bind(format!("learner{i}"))
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(root.join("target/release/lectern"))
        .args([
            "serve",
            "--portal",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--db",
        ])
        .arg(&db)
        .env("LECTERN_KUBECONFIG", &cluster.kubeconfig)
        .env("LECTERN_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(2000)
        .build()
        .unwrap();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
    let _ = server.kill();
    let _ = server.wait();

    let mut guard = stats.lock().await;
    let stats = &mut *guard;
    let total = stats.pages.len() + stats.checks.len() + stats.reads.len();
    println!(
        "{learners} learners for {seconds} s on {} cores: {total} requests ({:.0}/s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        total as f64 / seconds as f64
    );
    println!(
        "{:<34} {:>8} {:>10} {:>10} {:>10}",
        "", "count", "p50", "p99", "max"
    );
    for (name, samples) in [
        ("page views (home, module)", &mut stats.pages),
        ("check my work (21 API calls)", &mut stats.checks),
        ("last run", &mut stats.reads),
    ] {
        let count = samples.len();
        let (p50, p99, max) = (
            percentile(samples, 0.50),
            percentile(samples, 0.99),
            percentile(samples, 1.0),
        );
        println!(
            "{name:<34} {count:>8} {:>8.1}ms {:>8.1}ms {:>8.1}ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
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
