//! Nothing acknowledged is lost: kill -9, online backups, and upgrades of older databases.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::kind_fixtures as kind;
use crate::common::kube_api::FakeCluster;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    TestApp, free_port, fresh_database, lectern_cmd, postgres_under_test, serve_cmd, success_stdout,
};

const CHECK: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

/// Runs the step's checks on the server at `port`; the answer's status.
async fn check(client: &reqwest::Client, port: u16) -> reqwest::StatusCode {
    client
        .post(format!("http://127.0.0.1:{port}{CHECK}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
        .status()
}

async fn start_server(db: &str, kubeconfig: &Path, port: u16) -> Child {
    let child = serve_cmd(db, kubeconfig, port).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

async fn count_runs(db: &str) -> i64 {
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM check_runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_runs_survive_kill_9() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let port = free_port();
    let mut server = start_server(&db, &cluster.kubeconfig, port).await;
    let client = reqwest::Client::new();
    const N: usize = 10; // within a learner's burst of check runs
    for i in 0..N {
        assert_eq!(check(&client, port).await, 200, "write {i} acknowledged");
    }
    server.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint
    server.wait().unwrap();
    assert_eq!(
        count_runs(&db).await,
        N as i64,
        "every acknowledged run is on disk"
    );

    let mut restarted = start_server(&db, &cluster.kubeconfig, port).await;
    let latest: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["status"], "passed");
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_live_database_and_never_overwrites() {
    if postgres_under_test().is_some() {
        return; // `lectern backup` copies SQLite files; ops.rs tests its answer for PostgreSQL
    }
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lectern.db").display().to_string();
    let port = free_port();
    let mut server = start_server(&db, &cluster.kubeconfig, port).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(check(&client, port).await, 200);
    }
    let target = dir.path().join("backup.db");
    let output = lectern_cmd()
        .arg("backup")
        .arg(&target)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        success_stdout(&output),
        format!("backed up {db} to {}\n", target.display())
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        count_runs(&target.display().to_string()).await,
        3,
        "the copy holds every run"
    );

    let again = lectern_cmd()
        .arg("backup")
        .arg(&target)
        .env("LECTERN_DB", &db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("already exists; choose a new file name (backups never overwrite)")
    );
    let missing = lectern_cmd()
        .arg("backup")
        .arg(dir.path().join("b2.db"))
        .arg("--db")
        .arg(dir.path().join("nope.db"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no database at"));
}

#[tokio::test]
async fn a_sqlite_database_from_the_first_release_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("migrations");
    std::fs::create_dir(&previous).unwrap();
    let first = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::copy(&first, previous.join(first.file_name().unwrap())).unwrap();
    let db = dir.path().join("old.db");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(previous.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO learners (id, name) VALUES (2, 'ada')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let pool = lectern::db::open(&lectern::db::Location::Sqlite(db))
        .await
        .expect("upgrade");
    let (learners,): (i64,) = sqlx::query_as("SELECT count(*) FROM learners")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(learners, 2, "existing rows are kept");
    let (runs,): (i64,) = sqlx::query_as("SELECT count(*) FROM check_runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(runs, 0, "new tables exist");
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied as usize,
        lectern::db::SQLITE_MIGRATOR.iter().count()
    );
}

/// A tmpfs of `size` mounted on a new folder and unmounted when dropped: a disk that fills up.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None`, with a message, where this process may not mount a filesystem (not root, or a
    /// container without the capability).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self { dir }),
            Ok(output) => {
                eprintln!(
                    "skipped: cannot mount a small tmpfs here ({})",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk has no room left.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        for chunk in [64 * 1024, 512, 1] {
            let block = vec![0u8; chunk];
            while filler.write_all(&block).is_ok() {}
        }
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// No write is acknowledged before it commits: a statement with `RETURNING` that is read with
/// `fetch_one` or `fetch_optional` stops SQLite after the first row, before an autocommitted write
/// commits, so a failed commit (a full disk) would go unseen. Every such statement in `src/` reads
/// with `fetch_all`.
#[test]
fn every_returning_statement_runs_to_its_end() {
    let mut offenders = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (at, _) in text.match_indices("RETURNING") {
                let statement = &text[at..];
                let end = statement.find(".await").unwrap_or(statement.len());
                if !statement[..end].contains(".fetch_all(") {
                    let line = text[..at].lines().count();
                    offenders.push(format!("{}:{line}", path.display()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "read with fetch_all: {offenders:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_saves_with_a_503_and_loses_no_acknowledged_one() {
    if postgres_under_test().is_some() {
        eprintln!(
            "skipped on PostgreSQL: its disk is the database server's (its disk-full SQLSTATE is read the same way)"
        );
        return;
    }
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let db = disk.path().join("lectern.db");
    let app = TestApp::spawn_with_config(|config| {
        config.db.location = Some(db.to_str().unwrap().parse().unwrap());
    })
    .await;
    let url = app.url("/api/modules/cluster-architecture/questions/api-server-role/answer");
    let save = |text: String| {
        let request = app
            .client
            .post(&url)
            .json(&json!({ "text": text, "submit": true }));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = save("before the disk filled".to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let mut acknowledged = vec![(first["version"].as_i64().unwrap(), first["text"].clone())];
    disk.fill();
    let mut refusals = Vec::new();
    for i in 0..12 {
        let (status, body) = save(format!("answer {i} {}", "x".repeat(16_000))).await;
        match status {
            StatusCode::OK => {
                acknowledged.push((body["version"].as_i64().unwrap(), body["text"].clone()))
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refusals.push(body["error"].as_str().unwrap().to_owned())
            }
            other => panic!("a save on a full disk answered {other}: {body}"),
        }
    }
    assert!(!refusals.is_empty(), "no save was refused on a full disk");
    assert!(
        refusals[0].starts_with("this was not saved: the disk holding the database is full."),
        "{refusals:?}"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.text().await.unwrap(),
        "the database cannot write: the disk holding the database is full"
    );
    disk.free();
    let (status, after) = save("after room was made".to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    acknowledged.push((after["version"].as_i64().unwrap(), after["text"].clone()));

    app.stop().await;
    let pool = lectern::db::open(&lectern::db::Location::Sqlite(db))
        .await
        .unwrap();
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, text FROM answers WHERE question_id = 'api-server-role' ORDER BY version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    for (version, text) in &acknowledged {
        assert!(
            stored.iter().any(|(v, t)| v == version && text == t),
            "acknowledged version {version} is not stored: {stored:?}"
        );
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "only acknowledged saves are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cohort_import_under_write_load_creates_every_account() {
    use crate::common::browser::signed_in;
    use lectern::auth::Role;
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = TestApp::spawn_portal().await;
    app.add_account("root", Role::Admin, None).await;
    for name in ["w1", "w2", "w3"] {
        app.add_account(name, Role::Learner, None).await;
    }
    let imported = AtomicBool::new(false);
    let write = async |name: &str| {
        let learner = signed_in(&app, name).await;
        let mut statuses = Vec::new();
        let mut n = 0;
        while !imported.load(Ordering::SeqCst) {
            n += 1;
            let response = learner
                .post_json(
                    "/api/modules/cluster-architecture/questions/api-server-role/answer",
                    &json!({ "text": format!("draft {n}"), "submit": false }).to_string(),
                )
                .await;
            statuses.push(response.status());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        statuses
    };
    let import = async {
        let root = signed_in(&app, "root").await;
        let csrf = root.csrf().await;
        let csv: String = (0..60).map(|i| format!("load{i},learner,load\n")).collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let response = root
            .post_form("/admin/users/import", &[("csrf", &csrf), ("csv", &csv)])
            .await;
        imported.store(true, Ordering::SeqCst);
        (response.status(), response.text().await.unwrap())
    };
    let (w1, w2, w3, (status, html)) = tokio::join!(write("w1"), write("w2"), write("w3"), import);
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Created 60 accounts."), "{html}");
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE cohort = 'load'")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 60);
    for statuses in [w1, w2, w3] {
        assert!(
            statuses.contains(&StatusCode::OK),
            "the writer wrote during the import: {statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
    }
}
