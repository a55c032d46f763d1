//! The test harness: starts the real server on an ephemeral port with a fresh SQLite file, exactly
//! as `lectern serve` does, and gives tests an HTTP client and helpers for course fixtures.
//!
//! - [`TestApp::spawn`] serves the embedded default course.
//! - [`TestApp::spawn_with_content`] serves a folder (usually a [`course_copy`] a test has edited).
//! - [`lectern_cmd`] runs the real binary, for CLI behaviour.

#![allow(dead_code, unreachable_pub)]

pub mod browser;
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
use tempfile::TempDir;

/// The password every test account has.
pub const PASSWORD: &str = "correct horse battery";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub app: AppState,
    pub db_path: PathBuf,
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
        let dir = TempDir::new().expect("temp dir");
        let db_path = dir.path().join("data").join("lectern.db");
        // Bound first, so the configuration can know its own address (single sign-on's redirect).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = ServeArgs {
            addr: "127.0.0.1:0".parse().unwrap(),
            metrics_address: None,
            drain_seconds: 0,
            content: None,
            watch: false,
            request_timeout: 30,
            header_timeout: 10,
            max_connections: 4096,
            max_body: 1 << 20,
            db: DbArgs {
                path: Some(db_path.clone()),
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
            db_path,
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server as SIGTERM does and lets the app go (its database lock with it); answers
    /// the folder holding its database, to start another server on it ([`Self::restart`]).
    pub async fn stop(mut self) -> (TempDir, PathBuf) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server.await.ok();
        }
        (self._dir, self.db_path)
    }

    /// A new server on this one's database, after stopping this one: a restart.
    pub async fn restart(self, edit: impl FnOnce(&mut ServeArgs)) -> (Self, TempDir) {
        let (dir, db_path) = self.stop().await;
        let app = Self::spawn_with_config(|config| {
            config.db.path = Some(db_path);
            edit(config);
        })
        .await;
        (app, dir)
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

/// A port that was free a moment ago, for starting the binary on a known address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
