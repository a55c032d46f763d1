//! `lectern connect`, measured: "Check my work" through a learner's bridge against the same check on
//! the server's own connection, same Kubernetes API double, same run; and what idle bridges cost the
//! server. The portal is the release binary in its own process; the bridge is the release
//! `lectern connect`. Not a test: it prints figures. Targets: through the bridge at most 1.5x the
//! direct time on loopback; an idle bridge under 100 KB of server memory.
//!
//!   cargo bench --bench bridge           # BRIDGE_IDLE=200 BRIDGE_RUNS=15 by default

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

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use portal::env_number;

const PASSWORD: &str = "bridge bench password";
const STEP: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let idle = env_number("BRIDGE_IDLE", 200);
    let runs = env_number("BRIDGE_RUNS", 15).min(20);
    let binary = portal::release_binary();
    let cluster = kube_api::FakeCluster::start(kind_fixtures::lab_complete()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bridge.db").display().to_string();

    // Accounts and paired tokens straight into the database, through the same domain functions the
    // portal uses (pairing over HTTP is throttled per address, which is not what is measured).
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    let mut tokens = Vec::new();
    for id in portal::seed_learners(&pool, idle + 2, PASSWORD).await {
        let code = lectern::bridge::create_code(&pool, id).await.unwrap();
        tokens.push(
            lectern::bridge::pair(&pool, &code, "bench")
                .await
                .unwrap()
                .token,
        );
    }
    pool.close().await;
    let (mut server, base) = portal::start_portal(&binary, &db, &cluster.kubeconfig).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // learner0 checks through the server's own connection to the double; learner1 through its bridge.
    let direct = session::sign_in(&client, &base, "learner0", PASSWORD).await;
    let bridged = session::sign_in(&client, &base, "learner1", PASSWORD).await;
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bridges.json"),
        serde_json::json!({ base.clone(): tokens[1] }).to_string(),
    )
    .unwrap();
    let mut connect = Command::new(&binary)
        .args(["connect", &base, "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .env("LECTERN_CONFIG_DIR", config.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let status: serde_json::Value =
            session::get(&client, &base, &bridged.0, "/api/bridge/status")
                .await
                .json()
                .await
                .unwrap();
        if status["connected"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut times = [Vec::new(), Vec::new()];
    let mut round_trips = 0;
    for _ in 0..runs {
        for (i, session) in [&direct, &bridged].into_iter().enumerate() {
            let before = cluster.requests().len();
            let started = Instant::now();
            let run: serde_json::Value = client
                .post(format!("{base}{STEP}"))
                .header("cookie", format!("lectern_session={}", session.0))
                .header("x-csrf-token", &session.1)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            times[i].push(started.elapsed());
            assert_eq!(run["status"], "passed", "{run}");
            assert_eq!(run["via"], if i == 0 { "server" } else { "bridge" });
            round_trips = cluster.requests().len() - before;
        }
    }
    connect.kill().ok();
    connect.wait().ok();
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (direct_ms, bridged_ms) = (median(&mut times[0]), median(&mut times[1]));

    // Idle bridges: open, say hello, and stay.
    let before = portal::rss_kib(server.id());
    let mut sockets = Vec::with_capacity(idle);
    for token in &tokens[2..] {
        let mut request = format!("{}/api/bridge", base.replacen("http://", "ws://", 1))
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        socket
            .send(Message::Text(
                r#"{"type":"hello","version":1,"context":"kind-k8s-ha","server_version":"v1.36.0","client":"bench"}"#.into(),
            ))
            .await
            .unwrap();
        let welcome = socket.next().await.unwrap().unwrap();
        assert!(welcome.to_text().unwrap().contains("welcome"));
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = portal::rss_kib(server.id());
    server.kill().ok();
    server.wait().ok();

    println!(
        "Module 01 step 4 (12 checks), \"Check my work\" over HTTP, {runs} runs each, median; same double on loopback"
    );
    println!(
        "{:<44} {:>10}",
        "server's own connection",
        format!("{:.1} ms", direct_ms.as_secs_f64() * 1000.0)
    );
    println!(
        "{:<44} {:>10}",
        "learner's bridge (lectern connect)",
        format!("{:.1} ms", bridged_ms.as_secs_f64() * 1000.0)
    );
    println!(
        "bridge / direct: {:.2}x   (target <= 1.5x); API round trips per run: {round_trips}",
        bridged_ms.as_secs_f64() / direct_ms.as_secs_f64()
    );
    println!(
        "{idle} idle bridges: server RSS {} KiB -> {} KiB, {:.1} KiB per bridge   (target < 100 KB)",
        before,
        after,
        (after.saturating_sub(before)) as f64 / idle as f64
    );
    drop(sockets);
}
