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

/// `lectern serve --portal` on `db` (a SQLite path or a PostgreSQL URL), checking against
/// `kubeconfig`, as its own process, once it answers; answers the process and its base URL.
pub(crate) async fn start_portal(binary: &Path, db: &str, kubeconfig: &Path) -> (Child, String) {
    let port = free_port();
    let server = Command::new(binary)
        .args([
            "serve",
            "--portal",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--replica-url",
            &format!("http://127.0.0.1:{port}"),
            "--db",
            db,
        ])
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

/// Where a class's portal keeps its data.
#[allow(dead_code)] // not every benchmark runs on PostgreSQL
pub(crate) enum Backend {
    /// One server on a SQLite file.
    Sqlite,
    /// `replicas` servers sharing a new database `lectern_bench` on the PostgreSQL server at
    /// `server` (a URL whose user may create databases).
    Postgres {
        /// The server.
        server: String,
        /// How many replicas.
        replicas: usize,
    },
}

#[allow(dead_code)]
impl Backend {
    /// PostgreSQL with `replicas` servers, if `LECTERN_TEST_POSTGRES` names a server (as
    /// `.ci/with-postgres` sets it).
    pub(crate) fn postgres_from_env(replicas: usize) -> Option<Self> {
        let server = std::env::var("LECTERN_TEST_POSTGRES").ok()?;
        Some(Backend::Postgres { server, replicas })
    }

    /// In words, for the report.
    pub(crate) fn describe(&self) -> String {
        match self {
            Backend::Sqlite => "one SQLite process".to_owned(),
            Backend::Postgres { replicas, .. } => format!("{replicas} replicas on PostgreSQL"),
        }
    }

    /// A new, empty database: its `--db`.
    async fn create(&self, dir: &Path) -> String {
        use sqlx::Connection;
        match self {
            Backend::Sqlite => dir.join("bench.db").display().to_string(),
            Backend::Postgres { server, .. } => {
                let mut admin = sqlx::postgres::PgConnection::connect(server).await.unwrap();
                for statement in [
                    "DROP DATABASE IF EXISTS lectern_bench WITH (FORCE)",
                    "CREATE DATABASE lectern_bench",
                ] {
                    sqlx::query(statement).execute(&mut admin).await.unwrap();
                }
                let mut url = url::Url::parse(server).unwrap();
                url.set_path("lectern_bench");
                url.to_string()
            }
        }
    }

    fn replicas(&self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Postgres { replicas, .. } => *replicas,
        }
    }
}

/// A class on a portal: `learner0` to `learnerN` with one password, the release server (or
/// several) checking against the Kubernetes API double of a finished lab, and a client that never
/// follows redirects (nor decompresses: bodies arrive as the network carries them).
#[allow(dead_code)] // the bridge benchmark pairs its learners before the server starts
pub(crate) struct Class {
    /// The server processes.
    pub(crate) servers: Vec<Child>,
    /// Their base URLs, in the same order.
    pub(crate) bases: Vec<String>,
    /// The first one's.
    pub(crate) base: String,
    /// For the learners' requests.
    pub(crate) client: reqwest::Client,
    _cluster: crate::kube_api::FakeCluster,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl Class {
    /// Builds and starts it with `learners` accounts, on one SQLite server.
    pub(crate) async fn start(learners: usize, password: &str) -> Self {
        Self::start_on(&Backend::Sqlite, learners, password).await
    }

    /// Builds and starts it with `learners` accounts, on `backend`.
    pub(crate) async fn start_on(backend: &Backend, learners: usize, password: &str) -> Self {
        let binary = release_binary();
        let cluster = crate::kube_api::FakeCluster::start(crate::kind_fixtures::lab_done()).await;
        let dir = tempfile::tempdir().unwrap();
        let db = backend.create(dir.path()).await;
        let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
        seed_learners(&pool, learners, password).await;
        pool.close().await;
        let (mut servers, mut bases) = (Vec::new(), Vec::new());
        for _ in 0..backend.replicas() {
            let (server, base) = start_portal(&binary, &db, &cluster.kubeconfig).await;
            servers.push(server);
            bases.push(base);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2000)
            .build()
            .unwrap();
        Self {
            servers,
            base: bases[0].clone(),
            bases,
            client,
            _cluster: cluster,
            _dir: dir,
        }
    }

    /// The server for the `n`th request: round robin, as a load balancer sends them.
    pub(crate) fn base_for(&self, n: usize) -> &str {
        &self.bases[n % self.bases.len()]
    }

    /// Stops the servers.
    pub(crate) fn stop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// The resident memory of a process, from /proc.
#[allow(dead_code)] // not every benchmark reads memory
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
#[allow(dead_code)] // not every benchmark reads CPU time
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}
