//! The test harness: starts the real server on an ephemeral port with a fresh database, exactly
//! as `lectern serve` does, and gives tests an HTTP client and helpers for course fixtures.
//!
//! The database is a new SQLite file, or, when `LECTERN_TEST_POSTGRES` names a PostgreSQL server
//! (CI always does), a new database on that server: the whole suite runs against either backend.
//!
//! - [`TestApp::spawn`] serves the embedded default course.
//! - [`TestApp::spawn_with_content`] serves a folder (usually a [`course_copy`] a test has edited).
//! - [`lectern_cmd`] runs the real binary, for CLI behaviour.

#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod events;
pub mod grading;
pub mod kind_fixtures;
pub mod kube_api;
pub mod lti;
pub mod oidc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use lectern::AppState;
use lectern::config::{ClusterArgs, DbArgs, ServeArgs, SsoArgs};
use sqlx::Connection;
use tempfile::TempDir;

/// The password every test account has.
pub const PASSWORD: &str = "correct horse battery";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub app: AppState,
    /// The server's `--db`: a SQLite file's path or a PostgreSQL URL.
    pub db: String,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Serves the embedded course.
    pub async fn spawn() -> Self {
        Self::start(None, false, None).await
    }

    /// Serves the embedded course in portal mode (everyone signs in).
    pub async fn spawn_portal() -> Self {
        Self::start_with(None, false, None, true).await
    }

    /// Serves the embedded course, checking labs against the cluster in `kubeconfig`.
    pub async fn spawn_with_cluster(kubeconfig: &Path) -> Self {
        Self::start(None, false, Some(kubeconfig.to_owned())).await
    }

    /// Serves the course folder `dir`, optionally re-rendering it on change.
    pub async fn spawn_with_content(dir: &Path, watch: bool) -> Self {
        Self::start(Some(dir.to_owned()), watch, None).await
    }

    async fn start(content: Option<PathBuf>, watch: bool, kubeconfig: Option<PathBuf>) -> Self {
        Self::start_with(content, watch, kubeconfig, false).await
    }

    async fn start_with(
        content: Option<PathBuf>,
        watch: bool,
        kubeconfig: Option<PathBuf>,
        portal: bool,
    ) -> Self {
        Self::spawn_with_config(|config| {
            config.content = content;
            config.watch = watch;
            config.cluster.kubeconfig = kubeconfig;
            config.portal = portal;
        })
        .await
    }

    /// Serves with the default test configuration as changed by `edit`.
    pub async fn spawn_with_config(edit: impl FnOnce(&mut ServeArgs)) -> Self {
        log_statements_when_asked();
        let dir = TempDir::new().expect("temp dir");
        let db = fresh_database(dir.path()).await;
        // Bound first, so the configuration can know its own address (single sign-on's redirect).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = ServeArgs {
            addr: "127.0.0.1:0".parse().unwrap(),
            metrics_address: None,
            drain_seconds: 0,
            // Every test server may serve as one of several replicas (tests/it/replicas.rs).
            replica_url: Some(format!("http://{addr}")),
            content: None,
            watch: false,
            request_timeout: 30,
            header_timeout: 10,
            max_connections: 4096,
            max_connections_per_address: 256,
            max_connection_age: 60,
            max_body: 1 << 20,
            db: DbArgs {
                location: Some(db.parse().expect("a database location")),
            },
            cluster: ClusterArgs {
                kubeconfig: None,
                context: None,
                cluster_timeout: 2,
            },
            portal: false,
            secure_cookies: false,
            session_idle_minutes: 720,
            session_max_hours: 168,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            public_url: Some(format!("http://{addr}")),
            sso: SsoArgs::default(),
        };
        edit(&mut config);
        let app = lectern::cli::serve::start(config)
            .await
            .expect("the app starts as `lectern serve` starts it");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(lectern::serve(listener, app.clone(), async move {
            stopped.await.ok();
        }));
        Self {
            addr,
            client: reqwest::Client::new(),
            app,
            db,
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server as SIGTERM does and lets the app go (its database lock with it); answers
    /// the folder holding its files and its `--db`, to start another server on it ([`Self::restart`]).
    pub async fn stop(mut self) -> (TempDir, String) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server.await.ok();
        }
        (self._dir, self.db)
    }

    /// A new server on this one's database, after stopping this one: a restart.
    pub async fn restart(self, edit: impl FnOnce(&mut ServeArgs)) -> (Self, TempDir) {
        let (dir, db) = self.stop().await;
        let app = Self::spawn_with_config(|config| {
            config.db.location = Some(db.parse().expect("a database location"));
            edit(config);
        })
        .await;
        (app, dir)
    }

    /// The SQLite file this server uses, unless it runs on PostgreSQL.
    pub fn db_file(&self) -> Option<PathBuf> {
        sqlite_file(&self.db)
    }

    /// Creates an account with [`PASSWORD`], as `lectern user add` does.
    pub async fn add_account(&self, name: &str, role: lectern::auth::Role, cohort: Option<&str>) {
        lectern::auth::create_account(
            &self.app.db,
            &self.app.passwords.hasher,
            name,
            role,
            PASSWORD,
            cohort,
            lectern::auth::Origin::Cli,
        )
        .await
        .expect("account created");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request succeeds")
    }

    /// "Check my work" as personal mode's page sends it (a JSON POST, no session).
    pub async fn post_check(&self, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request succeeds")
    }

    /// GET that must answer 200; returns the body.
    pub async fn get_ok_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }
}

/// The default course's source folder in this repository.
pub fn default_course_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("content")
}

/// A writable copy of the default course, for tests that introduce mistakes.
pub fn course_copy() -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    copy_dir(&default_course_dir(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Path of module 01 inside a course folder.
pub fn module_dir(course: &Path) -> PathBuf {
    course.join("modules/01-cluster-architecture")
}

/// Rewrites a file of a course copy by replacing `from` (which must occur) with `to`.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// One check's result in a recorded run (`run["results"]`, as "Check my work" and the live
/// stream send it).
#[track_caller]
pub fn check_result<'a>(run: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    run["results"]
        .as_array()
        .and_then(|results| results.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {run}"))
}

/// The real `lectern` binary, with a clean environment for `LECTERN_*`.
pub fn lectern_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lectern"));
    for (key, _) in std::env::vars() {
        if key.starts_with("LECTERN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// With `LECTERN_TEST_SQL_LOG=FILE`, every SQL statement the test servers run is appended to
/// FILE (sqlx's own statement log), so that `.ci/store-queries` can list the store queries the
/// suite never runs on a backend.
fn log_statements_when_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(path) = std::env::var_os("LECTERN_TEST_SQL_LOG") else {
            return;
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the SQL log opens");
        tracing_subscriber::fmt()
            .with_env_filter("sqlx::query=debug")
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init()
            .ok();
    });
}

/// The standard output of a command that must have succeeded (its standard error is the message
/// when it did not).
pub fn success_stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `lectern serve` as its own process on `127.0.0.1:port` and `db`, checking against
/// `kubeconfig`, its output discarded; add flags to taste.
pub fn serve_cmd(db: &str, kubeconfig: &Path, port: u16) -> Command {
    let mut cmd = lectern_cmd();
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--db", db])
        .env("LECTERN_KUBECONFIG", kubeconfig)
        .env("LECTERN_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// A port that was free a moment ago, for starting the binary on a known address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The PostgreSQL server the suite runs against (`LECTERN_TEST_POSTGRES`, a URL whose user may
/// create databases), or `None` for SQLite.
pub fn postgres_under_test() -> Option<String> {
    std::env::var("LECTERN_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The path in a SQLite `--db`, or `None` for a PostgreSQL URL.
pub fn sqlite_file(db: &str) -> Option<PathBuf> {
    match db.parse::<lectern::db::Location>() {
        Ok(lectern::db::Location::Sqlite(path)) => Some(path),
        _ => None,
    }
}

/// A `--db` nobody has used yet: a SQLite file in a new folder under `dir`, or, under
/// [`postgres_under_test`], a new database on that server (named after this process, so that a
/// later run can tell it is no longer in use and drop it).
pub async fn fresh_database(dir: &Path) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CREATED: AtomicUsize = AtomicUsize::new(0);
    let Some(server) = postgres_under_test() else {
        return dir.join("data").join("lectern.db").display().to_string();
    };
    let mut url = url::Url::parse(&server).expect("LECTERN_TEST_POSTGRES is a URL");
    let n = CREATED.fetch_add(1, Ordering::SeqCst);
    let name = format!("lectern_test_{}_{n}", std::process::id());
    let mut admin = sqlx::postgres::PgConnection::connect(&server)
        .await
        .expect("LECTERN_TEST_POSTGRES answers");
    if n == 0 {
        drop_databases_of_finished_runs(&mut admin).await;
    }
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a test database is created");
    admin.close().await.ok();
    url.set_path(&name);
    url.to_string()
}

/// Drops the test databases whose process has ended.
async fn drop_databases_of_finished_runs(admin: &mut sqlx::postgres::PgConnection) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'lectern\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await
                .ok();
        }
    }
}
