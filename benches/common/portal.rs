//! What the benchmarks share: their knobs, the release build, learners seeded straight into the
//! database, and a portal-mode server started as its own process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// A number from the environment, or `default`.
pub(crate) fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0 to 1) of `samples`, nearest rank.
#[allow(dead_code)] // not every benchmark reports percentiles
pub(crate) fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1]
}

/// Prints a table of request kinds with their count, p50, p99 and maximum, names `width` wide.
#[allow(dead_code)]
pub(crate) fn print_latencies(width: usize, rows: Vec<(&str, &mut Vec<Duration>)>) {
    println!(
        "{:<width$} {:>8} {:>10} {:>10} {:>10}",
        "", "count", "p50", "p99", "max"
    );
    for (name, samples) in rows {
        let count = samples.len();
        let [p50, p99, max] = [0.50, 0.99, 1.0].map(|p| percentile(samples, p).as_secs_f64() * 1e3);
        println!("{name:<width$} {count:>8} {p50:>8.1}ms {p99:>8.1}ms {max:>8.1}ms");
    }
}

/// Builds the release binary; answers its path.
pub(crate) fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(root)
            .status()
            .unwrap()
            .success()
    );
    root.join("target/release/lectern")
}

/// Creates `count` learner accounts `learner0`, `learner1`, … with `password` (one Argon2 hash
/// shared: hashing is not what is measured; each sign-in still verifies it); answers their ids.
pub(crate) async fn seed_learners(pool: &sqlx::AnyPool, count: usize, password: &str) -> Vec<i64> {
    let hash = lectern::auth::Hasher::default()
        .hash(password)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let (id,): (i64,) = sqlx::query_as("INSERT INTO learners (name) VALUES ($1) RETURNING id")
            .bind(format!("bench{i}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO accounts (learner_id, username, role, password_hash, cohort) VALUES ($1, $2, 'learner', $3, 'bench')")
            .bind(id)
            .bind(format!("learner{i}"))
            .bind(&hash)
            .execute(&mut *tx)
            .await
            .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

/// A free port on loopback.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `lectern serve --portal` on `db`, checking against `kubeconfig`, as its own process, once it
/// answers; answers the process and its base URL.
pub(crate) async fn start_portal(binary: &Path, db: &Path, kubeconfig: &Path) -> (Child, String) {
    let port = free_port();
    let server = Command::new(binary)
        .args([
            "serve",
            "--portal",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--db",
        ])
        .arg(db)
        .env("LECTERN_KUBECONFIG", kubeconfig)
        .env("LECTERN_LOG", "warn")
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, base)
}

/// A class on a portal: `learner0` to `learnerN` with one password, the release server on SQLite
/// checking against the Kubernetes API double of a finished lab, and a client that never follows
/// redirects (nor decompresses: bodies arrive as the network carries them).
#[allow(dead_code)] // the bridge benchmark pairs its learners before the server starts
pub(crate) struct Class {
    /// The server process.
    pub(crate) server: Child,
    /// Its base URL.
    pub(crate) base: String,
    /// For the learners' requests.
    pub(crate) client: reqwest::Client,
    _cluster: crate::kube_api::FakeCluster,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl Class {
    /// Builds and starts it with `learners` accounts.
    pub(crate) async fn start(learners: usize, password: &str) -> Self {
        let binary = release_binary();
        let cluster = crate::kube_api::FakeCluster::start(crate::kind_fixtures::lab_done()).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.db");
        let pool = lectern::db::open(&lectern::db::Location::Sqlite(db.clone()))
            .await
            .unwrap();
        seed_learners(&pool, learners, password).await;
        pool.close().await;
        let (server, base) = start_portal(&binary, &db, &cluster.kubeconfig).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2000)
            .build()
            .unwrap();
        Self {
            server,
            base,
            client,
            _cluster: cluster,
            _dir: dir,
        }
    }

    /// Stops the server.
    pub(crate) fn stop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
