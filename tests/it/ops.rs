//! What operators rely on: health, readiness, headers, limits, the database on disk, shutdown.

use std::time::{Duration, Instant};

use crate::common::{TestApp, free_port, lectern_cmd, success_stdout};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get_ok_text("/healthz").await, "ok");
    assert_eq!(app.get_ok_text("/readyz").await, "ready");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone_but_liveness_does_not() {
    let app = TestApp::spawn().await;
    app.app.db.close().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("database unavailable")
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn the_database_is_created_and_migrated_on_first_start() {
    let app = TestApp::spawn().await;
    if let Some(file) = app.db_file() {
        assert!(file.exists(), "database file created in a new folder");
    }
    let (name,): (String,) = sqlx::query_as("SELECT name FROM learners WHERE id = 1")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(name, "local");
    if app.db_file().is_none() {
        return;
    }
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = TestApp::spawn().await;
    for path in ["/", "/modules/cluster-architecture", "/healthz", "/missing"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self';"),
            "{path}: scripts only from Lectern: {csp}"
        );
        assert!(!csp.contains("unsafe-eval"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "same-origin");
    }
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let body = vec![b'x'; (1 << 20) + 1];
    let response = app
        .client
        .post(app.url("/healthz"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn the_server_stops_gracefully_on_sigterm() {
    // Under --watch, with a page's live-reload stream open: it must not hold up the shutdown.
    let dir = tempfile::tempdir().unwrap();
    let course = crate::common::course_copy();
    let port = free_port();
    let mut child = lectern_cmd()
        .args(["serve", "--watch", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--content")
        .arg(course.path())
        .env("LECTERN_DB", dir.path().join("l.db"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut events = client
        .get(format!("http://127.0.0.1:{port}/api/live-reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.chunk().await.unwrap().is_some(),
        "the stream is open"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    drop(events);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test]
async fn after_sigterm_a_draining_server_is_not_ready_but_still_serves_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = lectern_cmd()
        .args([
            "serve",
            "--drain-seconds",
            "3",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("LECTERN_DB", dir.path().join("l.db"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(url("/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().get("connection").is_none());
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let not_ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), 503, "the load balancer stops sending");
    let page = client
        .get(url("/modules/cluster-architecture"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "requests still in the pipe are served");
    assert_eq!(
        page.headers()["connection"],
        "close",
        "clients reconnect elsewhere"
    );
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "server did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        sent.elapsed() >= Duration::from_secs(3),
        "it drained for 3 s"
    );
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("draining for 3 s"), "{log}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_database_its_folder_and_backups_are_readable_by_lecterns_user_only() {
    let app = TestApp::spawn().await;
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("copy.db");
    let backup = || {
        lectern_cmd()
            .arg("backup")
            .arg(&target)
            .arg("--db")
            .arg(&app.db)
            .output()
            .unwrap()
    };
    let Some(file) = app.db_file() else {
        let output = backup();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("back it up with pg_dump"), "{stderr}");
        let password = url::Url::parse(&app.db)
            .unwrap()
            .password()
            .map(str::to_owned);
        if let Some(password) = password {
            assert!(!stderr.contains(&format!(":{password}@")), "{stderr}");
        }
        assert!(!target.exists());
        return;
    };
    let folder = file.parent().unwrap();
    assert_eq!(mode(folder), 0o700, "the folder Lectern created");
    assert_eq!(mode(&file), 0o600, "the database");
    let wal = file.with_file_name("lectern.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600, "SQLite's write-ahead log");
    let output = backup();
    success_stdout(&output);
    assert_eq!(mode(&target), 0o600, "the backup");
    let (learners,): (i64,) = sqlx::query_as("SELECT count(*) FROM learners")
        .fetch_one(
            &lectern::db::open(&lectern::db::Location::Sqlite(target.clone()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(learners >= 1, "the backup is a whole database");
}

#[test]
fn a_postgresql_server_that_does_not_answer_is_named_without_its_password() {
    let port = free_port(); // nothing listens there
    let started = Instant::now();
    let output = lectern_cmd()
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(format!(
            "postgres://lectern:hunter2secret@127.0.0.1:{port}/lectern"
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot open the database postgres://lectern:***@127.0.0.1:{port}/lectern"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");

    let malformed = lectern_cmd()
        .args([
            "serve",
            "--db",
            "postgres://lectern:hunter2secret@127.0.0.1:99999/x",
        ])
        .output()
        .unwrap();
    assert_eq!(malformed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        stderr.contains("cannot open the database postgres://lectern:***@127.0.0.1:99999/x"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid port"), "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start_and_names_the_first() {
    let app = TestApp::spawn().await;
    if app.db_file().is_none() {
        return; // PostgreSQL: several servers share it (tests/it/replicas.rs)
    }
    let output = lectern_cmd()
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(&app.db)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "is in use by another Lectern server (process {}, started to listen on 127.0.0.1:0)",
            std::process::id()
        )),
        "{stderr}"
    );
    // The same file by other names: SQLite would keep a second `-wal` for a hard link and corrupt
    // the database.
    let file = app.db_file().unwrap();
    let links = tempfile::tempdir().unwrap();
    let hard = links.path().join("hard.db");
    let soft = links.path().join("soft.db");
    std::fs::hard_link(&file, &hard).unwrap();
    std::os::unix::fs::symlink(&file, &soft).unwrap();
    for other in [&hard, &soft] {
        let output = lectern_cmd()
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(other)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{}", other.display());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("is in use by another Lectern server"),
            "{stderr}"
        );
    }
    assert!(!links.path().join("hard.db-wal").exists());
    assert_eq!(
        app.get_ok_text("/readyz").await,
        "ready",
        "the first one still serves"
    );
}

async fn get_with_host(app: &TestApp, path: &str, host: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("host", host)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn personal_mode_answers_only_to_local_names_and_ip_addresses() {
    let app =
        TestApp::spawn_with_config(|c| c.allowed_hosts = vec!["lab-laptop.example".into()]).await;
    let port = app.addr.port();
    for host in [
        format!("localhost:{port}"),
        "localhost".to_owned(),
        format!("lectern.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "192.168.1.20:8080".to_owned(),
        format!("LAB-LAPTOP.example:{port}"),
    ] {
        assert_eq!(
            get_with_host(&app, "/", &host).await.status(),
            200,
            "{host}"
        );
    }
    for host in [
        "rebind.attacker.example",
        "rebind.attacker.example:8080",
        "localhost.attacker.example",
    ] {
        let page = get_with_host(&app, "/", host).await;
        assert_eq!(page.status(), 400, "{host}");
        assert!(page.text().await.unwrap().contains("--allowed-hosts"));
        let api = get_with_host(
            &app,
            "/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest",
            host,
        )
        .await;
        assert_eq!(api.status(), 400, "{host}");
        assert!(
            api.json::<serde_json::Value>().await.unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("localhost")
        );
    }
    assert_eq!(
        get_with_host(&app, "/healthz", "lb.internal")
            .await
            .status(),
        200,
        "probes answer under any name: they hold no learner's data"
    );
    let portal = TestApp::spawn_portal().await;
    assert_eq!(
        get_with_host(&portal, "/sign-in", "training.example.org")
            .await
            .status(),
        200,
        "a portal answers under the name it is published as"
    );
}

#[tokio::test]
async fn long_query_strings_get_400_with_the_limit() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(60 * 1024);
    let page = app.get(&format!("/?learner={long}")).await;
    assert_eq!(page.status(), 400);
    let text = page.text().await.unwrap();
    assert!(text.contains("Lectern accepts at most 2048"), "{text}");
    let api = app
        .get(&format!(
            "/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest?x={long}"
        ))
        .await;
    assert_eq!(api.status(), 400);
    assert!(api.text().await.unwrap().contains("at most 2048"));
    assert_eq!(
        app.get(&format!("/?x={}", "y".repeat(2000))).await.status(),
        200
    );
}

#[tokio::test]
async fn private_json_answers_are_never_stored_by_caches() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest",
        "/api/labs/no-such-lab/steps/x/runs/latest",
        "/api/modules/cluster-architecture/questions/etcd-quorum-size/answer",
    ] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["cache-control"],
            "private, no-store",
            "{path}: {}",
            response.status()
        );
    }
}

/// `/healthz` answers 200 within `within`, while others hold connections; `why` says what that shows.
async fn served_within(app: &TestApp, within: Duration, why: &str) {
    let client = reqwest::Client::builder().timeout(within).build().unwrap();
    let health = client.get(app.url("/healthz")).send().await.expect(why);
    assert_eq!(health.status(), 200);
}

/// Opens a connection that starts a request and then sends a header line every 300 ms, never
/// finishing (slowloris); returns how the server ended it, within `within`.
async fn slow_header_client(addr: std::net::SocketAddr, within: Duration) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .ok()?;
    let deadline = Instant::now() + within;
    let mut answer = Vec::new();
    while Instant::now() < deadline {
        if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
            return Some(answer);
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(answer),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_flood_is_cut_off_and_others_are_still_served() {
    let app = TestApp::spawn_with_config(|c| {
        c.header_timeout = 1;
        c.max_connections = 20;
    })
    .await;
    let flood: Vec<_> = (0..40)
        .map(|_| tokio::spawn(slow_header_client(app.addr, Duration::from_secs(20))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    served_within(
        &app,
        Duration::from_secs(15),
        "served while 40 slow clients hold or wait for the 20 connections",
    )
    .await;
    for slow in flood {
        assert!(
            slow.await.unwrap().is_some(),
            "the server closed every slow-header connection well before 20 s"
        );
    }
}

/// The fingerprinted URL of mermaid.js (5.5 MB), as module 01's page links it.
async fn mermaid_url(app: &TestApp) -> String {
    let page = app.get_ok_text("/modules/cluster-architecture").await;
    page.split('"')
        .find(|s| s.starts_with("/static/vendor/mermaid/mermaid."))
        .expect("mermaid.js on module 01")
        .to_owned()
}

/// Requests `path` with `Accept-Encoding: identity` on a socket with a tiny receive buffer, then
/// reads nothing; answers how many bytes could be read afterwards before the server ended it.
async fn never_reading_client(addr: std::net::SocketAddr, path: &str, hold: Duration) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(hold).await;
    let mut read = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return read,
            Ok(Ok(n)) => read += n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_cannot_hold_the_connections() {
    let app = TestApp::spawn_with_config(|c| {
        c.header_timeout = 1;
        c.max_connections = 4;
    })
    .await;
    let mermaid = mermaid_url(&app).await;
    let size = app
        .client
        .get(app.url(&mermaid))
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(size > 1_000_000, "{size}");
    let stalled: Vec<_> = (0..4)
        .map(|_| {
            let (addr, path) = (app.addr, mermaid.clone());
            tokio::spawn(
                async move { never_reading_client(addr, &path, Duration::from_secs(4)).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    served_within(
        &app,
        Duration::from_secs(10),
        "served once the stalled clients were cut off",
    )
    .await;
    for stalled in stalled {
        let read = stalled.await.unwrap();
        assert!(
            read < size,
            "a stalled client was cut off, not served all {size} bytes ({read})"
        );
    }
}

#[tokio::test]
async fn metrics_labels_come_from_a_fixed_set() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let method = format!("X{}", "Y".repeat(200 + i));
        stream
            .write_all(
                format!(
                    "{method} /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
    }
    let metrics = app.get_ok_text("/metrics").await;
    assert!(!metrics.contains("XYYY"), "a made-up method became a label");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

#[tokio::test]
async fn precompressed_files_are_never_compressed_again_per_request() {
    let app = TestApp::spawn().await;
    let mermaid = mermaid_url(&app).await;
    let brotli = app
        .client
        .get(app.url(&mermaid))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    let brotli_etag = brotli.headers()["etag"].clone();
    // Two header lines are one list (RFC 9110): `identity`, then `br`.
    let twice = app
        .client
        .get(app.url(&mermaid))
        .header("accept-encoding", "identity")
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.headers()["content-encoding"], "br");
    assert_eq!(
        twice.headers()["etag"],
        brotli_etag,
        "the brotli file's own validator"
    );
    let plain = app
        .client
        .get(app.url(&mermaid))
        .header("accept-encoding", "identity;q=1, br;q=0")
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_ne!(plain.headers()["etag"], brotli_etag);
}

/// Opens `n` connections to `addr` from the loopback address `from` (any of 127.0.0.0/8), sending
/// nothing.
async fn idle_connections_from(
    from: &str,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        streams.push(socket.connect(addr).await.unwrap());
    }
    streams
}

/// How many of `streams` the server still holds open (a read neither ends nor fails).
async fn still_open(streams: &mut [tokio::net::TcpStream]) -> usize {
    use tokio::io::AsyncReadExt;
    let mut open = 0;
    for stream in streams {
        let mut buf = [0u8; 64];
        if tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf))
            .await
            .is_err()
        {
            open += 1;
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection_but_a_trusted_proxy_may() {
    let app = TestApp::spawn_with_config(|c| {
        c.max_connections = 16;
        c.max_connections_per_address = 4;
        c.trusted_proxies = vec!["127.0.0.3/32".parse().unwrap()];
    })
    .await;
    let mut greedy = idle_connections_from("127.0.0.2", app.addr, 30).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        still_open(&mut greedy).await,
        4,
        "one address holds its 4 connections; the others were closed at once"
    );
    served_within(
        &app,
        Duration::from_secs(3),
        "another address is served while one holds its maximum",
    )
    .await;
    let mut proxied = idle_connections_from("127.0.0.3", app.addr, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        still_open(&mut proxied).await,
        10,
        "a trusted proxy carries many clients' connections"
    );
    drop(greedy);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = idle_connections_from("127.0.0.2", app.addr, 4).await;
    assert_eq!(
        still_open(&mut again).await,
        4,
        "closed connections give their slots back"
    );
}

/// Sends `GET /healthz` on `stream` and reads the response; `None` once the server has closed it.
async fn health_on(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Some(text);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_end_at_their_maximum_age_so_clients_rebalance() {
    let app = TestApp::spawn_with_config(|c| c.max_connection_age = 1).await;
    // A client that keeps asking on one connection gets its answers, then the connection ends a
    // little after its age (after a response, never during one).
    let mut busy = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(5) {
        match health_on(&mut busy).await {
            Some(answer) => {
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                answered += 1;
            }
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lived = started.elapsed();
    assert!(answered >= 5, "{answered} answers before it ended");
    assert!(
        lived >= Duration::from_millis(900) && lived < Duration::from_secs(4),
        "the connection ended after {lived:?}"
    );
    // An idle kept-alive connection ends at its age too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(health_on(&mut idle).await.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(still_open(std::slice::from_mut(&mut idle)).await, 0);
}
