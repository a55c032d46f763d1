//! "A class starts", measured: 1,000 learners arrive over 60 s; each signs in and opens module 01
//! with an empty browser cache (the page and every asset it loads, asking for the compression
//! Chromium asks for), then works for a few minutes (checks against the Kubernetes API test double,
//! saved answers, page views) with think time, as people do. Against one SQLite process (the
//! release binary, its own process). Not a test: it prints figures.
//!
//! Then the CPU a cold visit costs the server, side by side with a peer that serves the same page
//! and files the way Lectern did before its static files were compressed at build time: tower-http's
//! `CompressionLayer` compressing every response on the fly (its default levels).
//!
//!   cargo bench --bench class_start      # CLASS_LEARNERS=1000 CLASS_ARRIVAL_SECONDS=60
//!                                        # CLASS_WORK_SECONDS=180 by default
//!
//! Targets (issue #16): 0 errors, page p99 < 100 ms on a 2-core machine, cold-visit CPU at least
//! 10x below the on-the-fly peer's.

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

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use portal::{Backend, cpu_seconds, env_number, free_port, percentile};

const PASSWORD: &str = "class start password";
const MODULE: &str = "/modules/cluster-architecture";
/// What Chromium sends.
const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";
/// The files module 01's page loads, under `static/`, as the peer serves them.
const PEER_FILES: [&str; 4] = [
    "css/lectern.css",
    "js/lectern.js",
    "vendor/mermaid/mermaid.min.js",
    "favicon.svg",
];
/// Cold visits measured for CPU, on each server.
const CPU_VISITS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--peer") {
        runtime.block_on(peer(&args[i + 1], &args[i + 2]));
    } else {
        runtime.block_on(run());
    }
}

/// The peer, run as its own process: the module page (saved from Lectern) and the static files,
/// compressed per response by tower-http, as Lectern served them before build-time compression.
async fn peer(port: &str, page_file: &str) {
    let page = std::fs::read_to_string(page_file).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let mut files: HashMap<String, (Vec<u8>, String)> = HashMap::new();
    for path in PEER_FILES {
        let body = std::fs::read(root.join(path)).unwrap();
        let kind = mime_guess::from_path(path)
            .first_or_octet_stream()
            .to_string();
        files.insert(format!("/static/{path}"), (body, kind));
    }
    let files = Arc::new(files);
    let router = axum::Router::new()
        .route(
            "/page",
            axum::routing::get(move || {
                let page = page.clone();
                async move { axum::response::Html(page) }
            }),
        )
        .fallback(move |uri: axum::http::Uri| {
            let files = files.clone();
            async move {
                match files.get(uri.path()) {
                    Some((body, kind)) => axum::response::IntoResponse::into_response((
                        [(axum::http::header::CONTENT_TYPE, kind.clone())],
                        body.clone(),
                    )),
                    None => axum::response::IntoResponse::into_response(
                        axum::http::StatusCode::NOT_FOUND,
                    ),
                }
            }
        })
        .layer(tower_http::compression::CompressionLayer::new());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    axum::serve(listener, router).await.unwrap();
}

#[derive(Default)]
struct Stats {
    by_kind: HashMap<&'static str, Vec<Duration>>,
}

/// Counts a request's outcome: its time under `kind`, and whether it failed.
async fn record(
    stats: &Mutex<Stats>,
    failures: &AtomicUsize,
    kind: &'static str,
    sent: Instant,
    ok: bool,
) {
    if !ok {
        failures.fetch_add(1, Ordering::Relaxed);
    }
    stats
        .lock()
        .await
        .by_kind
        .entry(kind)
        .or_default()
        .push(sent.elapsed());
}

/// The assets a page loads: stylesheets, scripts and the icon.
fn assets(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for marker in ["href=\"/static/", "src=\"/static/"] {
        for part in html.split(marker).skip(1) {
            if let Some(rest) = part.split('"').next() {
                urls.push(format!("/static/{rest}"));
            }
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

/// A GET as a browser with an empty cache makes it; answers whether it succeeded and the body.
async fn cold_get(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
) -> (bool, bytes::Bytes) {
    let mut request = client.get(url).header("accept-encoding", ACCEPT_ENCODING);
    if let Some(token) = session {
        request = request.header("cookie", format!("lectern_session={token}"));
    }
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            (ok, response.bytes().await.unwrap_or_default())
        }
        Err(_) => (false, bytes::Bytes::new()),
    }
}

/// The server CPU (as `cpu` reads it) one cold visit (`page` and `assets`, four visitors at a
/// time) costs, in seconds.
async fn cpu_per_visit(
    client: &reqwest::Client,
    cpu: impl Fn() -> f64,
    page: &str,
    assets: &[String],
    session: Option<&str>,
) -> f64 {
    let before = cpu();
    for _ in 0..CPU_VISITS / 4 {
        let visits = (0..4).map(|_| async {
            let (ok, _) = cold_get(client, page, session).await;
            assert!(ok, "{page}");
            for asset in assets {
                let (ok, _) = cold_get(client, asset, session).await;
                assert!(ok, "{asset}");
            }
        });
        futures::future::join_all(visits).await;
    }
    (cpu() - before) / CPU_VISITS as f64
}

async fn wait_until_up(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU seconds the PostgreSQL server's processes have used (0 without one).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

/// CPU seconds the class's servers (and, on PostgreSQL, the database) have used.
fn class_cpu_seconds(class: &portal::Class, backend: &Backend) -> f64 {
    let servers: f64 = class.servers.iter().map(|s| cpu_seconds(s.id())).sum();
    match backend {
        Backend::Sqlite => servers,
        Backend::Postgres { .. } => servers + postgres_cpu_seconds(),
    }
}

async fn run() {
    let learners = env_number("CLASS_LEARNERS", 1000);
    let arrival = Duration::from_secs(env_number("CLASS_ARRIVAL_SECONDS", 60) as u64);
    let work = Duration::from_secs(env_number("CLASS_WORK_SECONDS", 180) as u64);
    let shape = Shape {
        learners,
        arrival,
        work,
    };
    let sqlite = class_starts(&Backend::Sqlite, &shape).await;
    match Backend::postgres_from_env(2) {
        Some(postgres) => {
            println!();
            class_starts(&postgres, &shape).await;
        }
        None => println!(
            "(for two replicas on PostgreSQL too, run under .ci/with-postgres, which sets LECTERN_TEST_POSTGRES)"
        ),
    }
    println!();
    compare_with_peer(&sqlite).await;
}

/// How many learners arrive over how long, and how long they then work.
struct Shape {
    learners: usize,
    arrival: Duration,
    work: Duration,
}

/// What one class's run hands to the comparison with the peer: the page, and what a cold visit
/// of it cost Lectern.
struct ColdVisit {
    page: String,
    assets: usize,
    cpu: f64,
}

/// One class on `backend`: the arrival, the work, the report; then the CPU of cold visits.
async fn class_starts(backend: &Backend, shape: &Shape) -> ColdVisit {
    let &Shape {
        learners,
        arrival,
        work,
    } = shape;
    let mut class = portal::Class::start_on(backend, learners, PASSWORD).await;
    let (base, client) = (class.base.clone(), class.client.clone());
    let bases = Arc::new(class.bases.clone());
    let sent_count = Arc::new(AtomicUsize::new(0));
    // What module 01's page loads (every learner's browser then asks for the same files).
    let (token, _) = session::sign_in(&client, &base, "learner0", PASSWORD).await;
    let page = session::get(&client, &base, &token, MODULE)
        .await
        .text()
        .await
        .unwrap();
    let page_assets = Arc::new(assets(&page));
    let cpu_at_start = class_cpu_seconds(&class, backend);

    let stats = Arc::new(Mutex::new(Stats::default()));
    let failures = Arc::new(AtomicUsize::new(0));
    let bytes_sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let end = started + arrival + work;
    let tasks: Vec<_> = (0..learners)
        .map(|i| {
            let (client, bases, sent_count, stats, failures, bytes_sent, page_assets) = (
                client.clone(),
                bases.clone(),
                sent_count.clone(),
                stats.clone(),
                failures.clone(),
                bytes_sent.clone(),
                page_assets.clone(),
            );
            let arrives = started + arrival.mul_f64(i as f64 / learners as f64);
            // Each request to the next server, as a load balancer sends them.
            let next_base = move || bases[sent_count.fetch_add(1, Ordering::Relaxed) % bases.len()].clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(arrives.into()).await;
                let sent = Instant::now();
                let (token, csrf) =
                    session::sign_in(&client, &next_base(), &format!("learner{i}"), PASSWORD).await;
                record(&stats, &failures, "sign in", sent, true).await;
                // The cold visit: the page, then everything it loads.
                let sent = Instant::now();
                let (ok, page) =
                    cold_get(&client, &format!("{}{MODULE}", next_base()), Some(&token)).await;
                record(&stats, &failures, "module page (cold)", sent, ok).await;
                bytes_sent.fetch_add(page.len(), Ordering::Relaxed);
                for asset in page_assets.iter() {
                    let sent = Instant::now();
                    let (ok, body) =
                        cold_get(&client, &format!("{}{asset}", next_base()), Some(&token)).await;
                    record(&stats, &failures, "asset (cold)", sent, ok).await;
                    bytes_sent.fetch_add(body.len(), Ordering::Relaxed);
                }
                // Then work, with think time.
                let mut n: u64 = i as u64 + 1;
                while Instant::now() < end {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    tokio::time::sleep(Duration::from_millis(2000 + (n >> 33) % 4000)).await;
                    if Instant::now() >= end {
                        break;
                    }
                    let cookie = format!("lectern_session={token}");
                    let base = next_base();
                    // What the page's scripts send: JSON with the session's CSRF token.
                    let json_post = |path: &str, body: String| {
                        client
                            .post(format!("{base}{path}"))
                            .header("x-csrf-token", &csrf)
                            .header("content-type", "application/json")
                            .body(body)
                    };
                    let (kind, request) = match (n >> 20) % 10 {
                        0..=2 => (
                            "check my work",
                            json_post(
                                "/api/labs/ha-control-plane/steps/monitoring-rbac/check",
                                "{}".to_owned(),
                            ),
                        ),
                        3..=5 => (
                            "save an answer",
                            json_post(
                                "/api/modules/cluster-architecture/questions/api-server-role/answer",
                                format!(
                                    "{{\"text\":\"draft {n}: the API server alone talks to etcd\",\"submit\":false}}"
                                ),
                            ),
                        ),
                        _ => (
                            "module page",
                            client
                                .get(format!("{base}{MODULE}"))
                                .header("accept-encoding", ACCEPT_ENCODING),
                        ),
                    };
                    let sent = Instant::now();
                    let ok = match request.header("cookie", cookie).send().await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            let _ = response.bytes().await;
                            ok
                        }
                        Err(_) => false,
                    };
                    record(&stats, &failures, kind, sent, ok).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let class_cpu = class_cpu_seconds(&class, backend) - cpu_at_start;

    // CPU per cold visit (on the first server; every server's and the database's CPU counts).
    let page_url = format!("{base}{MODULE}");
    let lectern_assets: Vec<String> = page_assets.iter().map(|a| format!("{base}{a}")).collect();
    let lectern_cpu = cpu_per_visit(
        &client,
        || class_cpu_seconds(&class, backend),
        &page_url,
        &lectern_assets,
        Some(&token),
    )
    .await;
    class.stop();
    report(
        backend,
        shape,
        elapsed,
        class_cpu,
        &stats,
        &failures,
        &bytes_sent,
    )
    .await;
    println!(
        "server CPU per cold visit (page + {} assets, as Chromium asks): {:.1} ms",
        lectern_assets.len(),
        lectern_cpu * 1e3
    );
    ColdVisit {
        page,
        assets: lectern_assets.len(),
        cpu: lectern_cpu,
    }
}

/// The same cold visits against the peer that compresses on the fly.
async fn compare_with_peer(lectern: &ColdVisit) {
    let client = reqwest::Client::new();

    let scratch = tempfile::tempdir().unwrap();
    let page_file = scratch.path().join("page.html");
    std::fs::write(&page_file, &lectern.page).unwrap();
    let peer_port = free_port().to_string();
    let mut peer_process = Command::new(std::env::current_exe().unwrap())
        .args(["--peer", &peer_port])
        .arg(&page_file)
        .spawn()
        .unwrap();
    let peer_base = format!("http://127.0.0.1:{peer_port}");
    wait_until_up(&client, &format!("{peer_base}/page")).await;
    let peer_assets: Vec<String> = PEER_FILES
        .iter()
        .map(|p| format!("{peer_base}/static/{p}"))
        .collect();
    let peer_pid = peer_process.id();
    let peer_cpu = cpu_per_visit(
        &client,
        || cpu_seconds(peer_pid),
        &format!("{peer_base}/page"),
        &peer_assets,
        None,
    )
    .await;
    let _ = peer_process.kill();
    let _ = peer_process.wait();
    println!(
        "server CPU per cold visit (page + {} assets, as Chromium asks): Lectern {:.1} ms (on SQLite), on-the-fly peer {:.1} ms: {:.0}x less   (target >= 10x)",
        lectern.assets,
        lectern.cpu * 1e3,
        peer_cpu * 1e3,
        peer_cpu / lectern.cpu.max(1e-6)
    );
}

/// Prints one class's throughput, latencies per request kind, failures and page p99.
async fn report(
    backend: &Backend,
    shape: &Shape,
    elapsed: Duration,
    class_cpu: f64,
    stats: &Mutex<Stats>,
    failures: &AtomicUsize,
    bytes_sent: &AtomicUsize,
) {
    let Shape {
        learners,
        arrival,
        work,
    } = shape;
    let mut guard = stats.lock().await;
    let total: usize = guard.by_kind.values().map(Vec::len).sum();
    println!(
        "A class starts: {learners} learners arriving over {} s, then working {} s, on {} cores, against {}",
        arrival.as_secs(),
        work.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        backend.describe(),
    );
    println!(
        "{total} requests in {:.0} s ({:.0}/s); {:.1} MB of cold-visit bodies sent; server CPU {:.1} s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        bytes_sent.load(Ordering::Relaxed) as f64 / 1e6,
        class_cpu
    );
    let mut kinds: Vec<(&str, &mut Vec<Duration>)> = guard
        .by_kind
        .iter_mut()
        .map(|(kind, samples)| (*kind, samples))
        .collect();
    kinds.sort_by_key(|(kind, _)| *kind);
    portal::print_latencies(24, kinds);
    let mut pages: Vec<Duration> = ["module page (cold)", "module page"]
        .iter()
        .flat_map(|k| guard.by_kind.get(k).cloned().unwrap_or_default())
        .collect();
    println!(
        "failed requests: {}   (target 0)",
        failures.load(Ordering::Relaxed)
    );
    println!(
        "page p99: {:.1} ms   (target < 100 ms)",
        percentile(&mut pages, 0.99).as_secs_f64() * 1e3
    );
}
