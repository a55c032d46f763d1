//! Nothing acknowledged is lost: kill -9, online backups, and upgrades of older databases.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::kind_fixtures as kind;
use crate::common::kube_api::FakeCluster;
use crate::common::{free_port, fresh_database, lectern_cmd, postgres_under_test, serve_cmd};

const CHECK: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

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
        let response = client
            .post(format!("http://127.0.0.1:{port}{CHECK}"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "write {i} acknowledged");
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
        let response = client
            .post(format!("http://127.0.0.1:{port}{CHECK}"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let target = dir.path().join("backup.db");
    let output = lectern_cmd()
        .arg("backup")
        .arg(&target)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
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
