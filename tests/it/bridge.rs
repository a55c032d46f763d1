//! `lectern connect`: the real CLI relays an in-process portal's checks to the Kubernetes API double.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::browser::{Browser, hidden, html, signed_in};
use crate::common::events::Events;
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::{FakeCluster, Mode};
use crate::common::{TestApp, check_result, lectern_cmd, postgres_under_test};
use lectern::auth::Role;

/// A running `lectern connect`, killed when dropped.
struct Connect {
    child: tokio::process::Child,
    config: TempDir,
    output: std::path::PathBuf,
    errors: std::path::PathBuf,
}

impl Connect {
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.errors).unwrap_or_default()
    }
}

fn connect_cmd(config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(lectern_cmd());
    cmd.arg("connect")
        .args(args)
        .env("LECTERN_CONFIG_DIR", config)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A one-time pairing code from the Connect page, as a signed-in learner gets it.
async fn pairing_code(browser: &Browser<'_>) -> String {
    let page = html(browser, "/connect").await;
    let response = browser
        .post_form("/connect/code", &[("csrf", &hidden(&page, "csrf"))])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    page.split("--code ")
        .nth(1)
        .and_then(|s| s.get(..9))
        .unwrap_or_else(|| panic!("no command in {page}"))
        .to_owned()
}

/// Pairs and connects `lectern connect` for the signed-in learner, relaying to `kubeconfig`.
async fn connect(
    app: &TestApp,
    browser: &Browser<'_>,
    learner: &str,
    kubeconfig: &Path,
) -> Connect {
    connect_with(app, browser, learner, kubeconfig, &[]).await
}

/// [`connect`] with further arguments (`--context`).
async fn connect_with(
    app: &TestApp,
    browser: &Browser<'_>,
    learner: &str,
    kubeconfig: &Path,
    further: &[&str],
) -> Connect {
    let code = pairing_code(browser).await;
    let config = tempfile::tempdir().unwrap();
    let output = config.path().join("stdout");
    let errors = config.path().join("stderr");
    let child = connect_cmd(
        config.path(),
        &[
            &app.url(""),
            "--code",
            &code,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ]
        .into_iter()
        .chain(further.iter().copied())
        .collect::<Vec<_>>(),
    )
    .stdout(std::fs::File::create(&output).unwrap())
    .stderr(std::fs::File::create(&errors).unwrap())
    .spawn()
    .unwrap();
    let connect = Connect {
        child,
        config,
        output,
        errors,
    };
    let id = learner_id(app, learner).await;
    for _ in 0..200 {
        if app.app.reach.bridges.get(id).is_some() {
            return connect;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the bridge never connected\n{}\n{}",
        connect.stdout(),
        connect.stderr()
    );
}

/// Revokes the connected machine from the Connect page, as the learner does.
async fn revoke_the_connected_machine(browser: &Browser<'_>) {
    let page = html(browser, "/connect").await;
    assert!(page.contains("Connected since"), "{page}");
    let pairing = page
        .split("/connect/pairings/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_owned();
    let revoked = browser
        .post_form(
            &format!("/connect/pairings/{pairing}/revoke"),
            &[("csrf", &hidden(&page, "csrf"))],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let answer = revoked.text().await.unwrap();
    assert!(answer.contains("Revoked: that machine can no longer connect."));
    assert!(
        !answer.contains("Connected since"),
        "the page drawn after a revoke does not show the revoked bridge as connected: {answer}"
    );
}

async fn learner_id(app: &TestApp, name: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = $1")
        .bind(name)
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    id
}

async fn portal_with(learners: &[&str]) -> TestApp {
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.cluster_timeout = 10;
    })
    .await;
    for name in learners {
        app.add_account(name, Role::Learner, Some("blue")).await;
    }
    app
}

/// Starts step 2 and follows it on the module page's stream: the stream, and the first
/// `following` event past connecting (watching, or polling and why).
async fn follow_step_2(browser: &Browser<'_>) -> (Events, Value) {
    let started = browser
        .post_json(
            "/api/labs/ha-control-plane/steps/create-ha-cluster/start",
            "{}",
        )
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    let mut events = Events::new(
        browser
            .get("/api/labs/ha-control-plane/live?page=/modules/cluster-architecture")
            .await,
    );
    let following = events
        .until(Duration::from_secs(15), |e| {
            e.name == "following" && e.json()["mode"] != "connecting"
        })
        .await
        .json();
    (events, following)
}

async fn check(browser: &Browser<'_>, step: &str) -> Value {
    let response = browser
        .post_json(
            &format!("/api/labs/ha-control-plane/steps/{step}/check"),
            "{}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The same step checked directly with `lectern lab check`.
async fn direct(kubeconfig: &Path, step: u32) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lectern_cmd();
    cmd.args([
        "lab",
        "check",
        "ha-control-plane",
        "--output",
        "json",
        "--step",
        &step.to_string(),
        "--kubeconfig",
    ])
    .arg(kubeconfig)
    .arg("--db")
    .arg(dir.path().join("d.db"));
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    serde_json::from_slice::<Value>(&output.stdout).unwrap()["steps"][0].clone()
}

fn verdicts(run: &Value) -> Vec<(String, String, String)> {
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_through_the_bridge_equal_the_direct_ones() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let bridge = connect(&app, &ada, "ada", &cluster.kubeconfig).await;

    let states: [(&str, Vec<Value>); 3] = [
        ("fresh", kind::ha_cluster()),
        ("mid-failure", kind::mid_failure()),
        ("complete", kind::lab_complete()),
    ];
    for (state, objects) in states {
        cluster.set_objects(objects);
        for (number, step) in [
            (4, "monitoring-rbac"),
            (5, "lose-a-control-plane-node"),
            (6, "recover"),
        ] {
            let through = check(&ada, step).await;
            assert_eq!(through["via"], "bridge", "{state} {step}");
            let direct = direct(&cluster.kubeconfig, number).await;
            assert_eq!(verdicts(&through), verdicts(&direct), "{state} {step}");
            assert_eq!(through["status"], direct["status"], "{state} {step}");
        }
    }
    let history = html(&ada, "/api/labs/ha-control-plane/steps/recover/runs/latest").await;
    assert!(history.contains("\"via\":\"bridge\""), "{history}");
    // Instructors see which cluster each run asked.
    app.add_account("ines", Role::Instructor, None).await;
    let ines = signed_in(&app, "ines").await;
    let page = html(
        &ines,
        &format!("/instructor/learners/{}", learner_id(&app, "ada").await),
    )
    .await;
    assert!(
        page.contains("the learner's own cluster, through lectern connect"),
        "{page}"
    );
    // The learner's terminal says what the portal did, one line per run.
    let out = bridge.stdout();
    assert!(out.contains("Connected to http://127.0.0.1:"), "{out}");
    assert!(
        out.contains("as ada: relaying read-only requests to kind-k8s-ha (Kubernetes v1.36.0)"),
        "{out}"
    );
    assert!(
        out.contains(
            "portal checked step 6 (recover): 6 passed, 0 failed, 0 could not be checked;"
        ),
        "{out}"
    );
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["connected"], true);
    assert_eq!(status["link"]["server_version"], "v1.36.0");
    assert_eq!(
        status["link"]["protocol"], 2,
        "one context is relayed over version 2, which portals not yet upgraded accept"
    );

    // Step 7's second cluster is another context, which this bridge does not relay: those checks
    // say so, with the command that does (and never ask the server's own kubeconfig in the
    // learner's name).
    let restore = check(&ada, "backup-and-restore").await;
    let solo = check_result(&restore, "solo-cluster-up");
    assert_eq!(solo["status"], "error");
    assert!(
        solo["message"]
            .as_str()
            .unwrap()
            .starts_with("this check asks the kubeconfig context `kind-solo`, which your lectern connect does not relay: stop it (Ctrl-C) and run it again naming every context this lab uses, the one your other checks ask first: `lectern connect <this portal> --context kind-k8s-ha --context kind-solo`"),
        "{solo}"
    );
    // "Is my cluster ready?" says the same of the later step's context, before step 7.
    let facts: Value = ada
        .post_json("/api/cluster/preflight", "{}")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(facts["via"], "bridge");
    assert_eq!(facts["contexts"][0]["context"], "kind-solo", "{facts}");
    assert!(
        facts["contexts"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("`lectern connect <this portal> --context kind-k8s-ha --context kind-solo`"),
        "{facts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_followed_through_lectern_connect_is_watched_and_its_watches_end_with_it() {
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let bridge = connect(&app, &ada, "ada", &cluster.kubeconfig).await;
    let (mut events, following) = follow_step_2(&ada).await;
    assert_eq!(following["mode"], "watching", "{following}");
    // Step 2's four node watches (each lists, then watches) reach the learner's cluster.
    for _ in 0..100 {
        if cluster.watches_of("nodes") >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        cluster.watches_of("nodes"),
        4,
        "the watches reached the learner's cluster through the bridge: {:?}",
        cluster.served()
    );
    let link = app
        .app
        .reach
        .bridges
        .get(learner_id(&app, "ada").await)
        .unwrap();
    assert!(link.watches() >= 1, "the bridge carries the step's watches");
    let lists_before = cluster.served().len();
    cluster.set_objects(kind::lab_complete());
    let passed = events
        .until(Duration::from_secs(5), |e| {
            e.name == "verdict" && e.json()["run"]["status"] == "passed"
        })
        .await;
    assert_eq!(passed.json()["run"]["via"], "bridge");
    assert!(
        !cluster.served()[lists_before..]
            .iter()
            .any(|s| s.starts_with("watch")),
        "the change came on the open watch, not a new one: {:?}",
        cluster.served()
    );
    // Passed: following stops, the watches are cancelled on both sides of the bridge.
    for _ in 0..100 {
        if link.watches() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        link.watches(),
        0,
        "the passed step's watches were cancelled"
    );
    assert_eq!(link.buffered(), 0, "no event is held for nobody");
    assert!(!bridge.stdout().contains("refused"), "{}", bridge.stdout());
}

/// A client that speaks bridge protocol version 1, as a `lectern connect` released before watches
/// did: it relays each request to `cluster` and would fail the test if sent a watch.
async fn version_1_client(app: &TestApp, ada: &Browser<'_>, cluster: &FakeCluster) {
    use lectern::bridge::protocol::{Down, Up, decode_body, encode_body};
    let code = pairing_code(ada).await;
    let paired: Value = app
        .client
        .post(app.url("/api/bridge/pair"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut request = app
        .url("/api/bridge")
        .replacen("http", "ws", 1)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", paired["token"].as_str().unwrap());
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let mut socket = tokio_tungstenite::connect_async(request).await.unwrap().0;
    let hello = r#"{"type":"hello","version":1,"context":"kind-kind","server_version":"v1.36.0","client":"lectern 0.0.9"}"#;
    socket.send(Message::Text(hello.into())).await.unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let request = match serde_json::from_str::<Down>(&text).unwrap() {
                Down::Request {
                    id,
                    method,
                    path,
                    headers,
                    body,
                    ..
                } => (id, method, path, headers, body),
                Down::Welcome { version, .. } => {
                    assert_eq!(version, 1, "the portal speaks the client's version");
                    continue;
                }
                Down::Note { .. } => continue,
                other => panic!("a version-1 client was sent {other:?}"),
            };
            let (id, method, path, headers, body) = request;
            let mut builder = http::Request::builder().method(method.as_str()).uri(path);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            let request = builder
                .body(kube::client::Body::from(decode_body(&body).unwrap()))
                .unwrap();
            let response = client.send(request).await.unwrap();
            let status = response.status().as_u16();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let answer = Up::Response {
                id,
                status,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: encode_body(&body),
            };
            let text = serde_json::to_string(&answer).unwrap();
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_bridge_still_works_polled_and_asked_to_upgrade() {
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    version_1_client(&app, &ada, &cluster).await;
    let id = learner_id(&app, "ada").await;
    for _ in 0..100 {
        if app.app.reach.bridges.get(id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = html(&ada, "/connect").await;
    assert!(
        page.contains("speaks bridge protocol version 1, which relays no watches"),
        "{page}"
    );
    let (mut events, following) = follow_step_2(&ada).await;
    assert_eq!(following["mode"], "polling", "{following}");
    let message = following["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Checking every 2 s: your lectern connect is version 1 and relays no watches: install a newer lectern"
        ),
        "{message}"
    );
    assert_eq!(
        cluster.watches_of("nodes"),
        0,
        "no watch reached the cluster"
    );
    cluster.set_objects(kind::lab_complete());
    let passed = events
        .until(Duration::from_secs(10), |e| {
            e.name == "verdict" && e.json()["run"]["status"] == "passed"
        })
        .await;
    assert_eq!(passed.json()["run"]["via"], "bridge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_shells_and_secret_data_never_pass_the_learners_side() {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
    use kube::Api;
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let _bridge = connect(&app, &ada, "ada", &cluster.kubeconfig).await;
    let link = app
        .app
        .reach
        .bridges
        .get(learner_id(&app, "ada").await)
        .unwrap();
    // What a compromised portal could try with the bridge.
    let client = kube::Client::new(
        lectern::bridge::LinkService::new(lectern::bridge::BridgeLink::Here(link), None),
        "default",
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let refused = |e: kube::Error| match e {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("not refused by the learner's side: {other}"),
    };
    let (code, message) = refused(
        configmaps
            .delete("coredns", &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(message.contains("DELETE /api/v1/namespaces/default/configmaps/coredns would change the cluster; the bridge relays reads only"), "{message}");
    let (code, _) = refused(
        configmaps
            .create(&Default::default(), &ConfigMap::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let (code, message) = refused(secrets.get("bootstrap-token-abcdef").await.unwrap_err());
    assert_eq!(code, 403);
    assert!(
        message.contains("Secret data is never relayed"),
        "{message}"
    );
    let metadata = secrets
        .get_metadata("bootstrap-token-abcdef")
        .await
        .unwrap();
    assert_eq!(
        metadata.metadata.name.as_deref(),
        Some("bootstrap-token-abcdef")
    );
    let pods: Api<Pod> = Api::namespaced(client, "kube-system");
    let (code, message) = refused(
        pods.logs("etcd-k8s-ha-control-plane", &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(
        message.contains("the `log` subresource is not relayed"),
        "{message}"
    );
    let seen = cluster.requests();
    assert!(
        seen.iter()
            .all(|r| r.starts_with("GET ") && !r.contains("/log")),
        "the double saw only reads: {seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|r| r.contains("/secrets/") && !r.contains("bootstrap-token-abcdef")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_that_closes_mid_run_is_explained_and_a_revoked_one_stays_out() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let mut bridge = connect(&app, &ada, "ada", &cluster.kubeconfig).await;

    // The cluster hangs; the learner's side goes away while the portal waits for answers.
    cluster.set_mode(Mode::Hang);
    let before = cluster.requests().len();
    let run = {
        let ada = &ada;
        async move { check(ada, "monitoring-rbac").await }
    };
    let kill = async {
        while cluster.requests().len() == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bridge.child.start_kill().unwrap();
    };
    let (run, ()) = tokio::join!(run, kill);
    assert_eq!(run["status"], "error");
    assert_eq!(run["via"], "bridge");
    let first = &run["results"][0];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .starts_with("your cluster connection closed"),
        "{first}"
    );
    cluster.set_mode(Mode::Normal);

    // Without a bridge, the portal says so rather than check another cluster in its name.
    let learner = learner_id(&app, "ada").await;
    for _ in 0..100 {
        if app.app.reach.bridges.get(learner).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.app.reach.bridges.get(learner).is_none());

    // Reconnect with the kept token (no code), then revoke the machine: it is disconnected and
    // cannot come back.
    let config = bridge.config.path().to_owned();
    let mut again = connect_cmd(
        &config,
        &[
            &app.url(""),
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    for _ in 0..200 {
        if app.app.reach.bridges.get(learner).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.app.reach.bridges.get(learner).is_some(),
        "reconnected with the stored token"
    );
    revoke_the_connected_machine(&ada).await;
    let status = tokio::time::timeout(Duration::from_secs(20), again.wait())
        .await
        .expect("lectern connect exits once revoked")
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(again.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("revoked"), "{stderr}");

    let output = connect_cmd(
        &config,
        &[
            &app.url(""),
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
        ],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("this token was revoked on the portal's Connect page"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_learners_bridges_are_isolated() {
    let ada_cluster = FakeCluster::start(kind::lab_done()).await;
    let bob_cluster = FakeCluster::start(kind::ha_cluster()).await;
    let app = portal_with(&["ada", "bob"]).await;
    let ada = signed_in(&app, "ada").await;
    let bob = signed_in(&app, "bob").await;
    let _a = connect(&app, &ada, "ada", &ada_cluster.kubeconfig).await;
    let _b = connect(&app, &bob, "bob", &bob_cluster.kubeconfig).await;
    let bob_before = bob_cluster.requests().len();
    assert_eq!(check(&ada, "monitoring-rbac").await["status"], "passed");
    assert_eq!(
        bob_cluster.requests().len(),
        bob_before,
        "ada's run never reached bob's cluster"
    );
    assert_eq!(check(&bob, "monitoring-rbac").await["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_is_refused_with_reasons() {
    let personal = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let output = connect_cmd(dir.path(), &[&personal.url(""), "--code", "ABCD-EFGH"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("this Lectern runs in personal mode"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let app = portal_with(&["ada"]).await;
    let output = connect_cmd(dir.path(), &[&app.url(""), "--code", "ABCD-EFGH"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "the portal refused the code (400 Bad Request): this code is unknown, already used or expired"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = connect_cmd(dir.path(), &[&app.url("")])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("this machine is not paired with"));

    // A code works once.
    let ada = signed_in(&app, "ada").await;
    let code = pairing_code(&ada).await;
    let pair = |code: String| {
        let client = app.client.clone();
        let url = app.url("/api/bridge/pair");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({ "code": code, "machine": "laptop" }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(pair(code.clone()).await.status(), StatusCode::OK);
    assert_eq!(pair(code).await.status(), StatusCode::BAD_REQUEST);
    // A code dies with its account's deactivation, and stays dead when the account comes back.
    let code = pairing_code(&ada).await;
    let set_deactivated = |at: Option<&'static str>| {
        sqlx::query("UPDATE accounts SET deactivated_at = $1 WHERE username = 'ada'")
            .bind(at)
            .execute(&app.app.db)
    };
    set_deactivated(Some("2026-12-04T10:00:00.000Z"))
        .await
        .unwrap();
    assert_eq!(pair(code.clone()).await.status(), StatusCode::BAD_REQUEST);
    set_deactivated(None).await.unwrap();
    assert_eq!(pair(code).await.status(), StatusCode::BAD_REQUEST);
    // Guessing is throttled per address.
    let mut throttled = false;
    for _ in 0..12 {
        if pair("WXYZ-2345".to_owned()).await.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "ten guesses at once, then 429");
    // Codes are made only with the session's CSRF token.
    assert_eq!(
        ada.post_form("/connect/code", &[("csrf", "forged")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_only_that_connection() {
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let code = pairing_code(&ada).await;
    let paired: Value = app
        .client
        .post(app.url("/api/bridge/pair"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = paired["token"].as_str().unwrap();
    let open = || async {
        let mut request = app
            .url("/api/bridge")
            .replacen("http", "ws", 1)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    for (frame, reason) in [
        ("not json", "malformed frame"),
        (
            r#"{"type":"response","id":1,"status":200,"headers":[],"body":""}"#,
            "the first frame must be hello",
        ),
        (
            r#"{"type":"hello","version":9,"context":"c","server_version":"","client":"x"}"#,
            "protocol version 9 is not supported",
        ),
    ] {
        let mut socket = open().await;
        socket.send(Message::Text(frame.into())).await.unwrap();
        let close = loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => break frame.unwrap().reason.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        assert!(close.starts_with(reason), "{frame}: {close}");
    }
    let mut socket = open().await;
    socket
        .send(Message::Text(r#"{"type":"hello","version":1,"context":"kind-k8s-ha","server_version":"v1.36.0","client":"test"}"#.into()))
        .await
        .unwrap();
    let welcome = socket.next().await.unwrap().unwrap();
    assert_eq!(
        welcome.into_text().unwrap().as_str(),
        r#"{"type":"welcome","version":1,"learner":"ada"}"#
    );
    socket
        .send(Message::Binary(vec![0u8; 16].into()))
        .await
        .unwrap();
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame.unwrap().reason.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(close, "binary frames are not part of the protocol");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    let refusal = |token: String| {
        let url = app.url("/api/bridge").replacen("http", "ws", 1);
        async move {
            let mut request = url.into_client_request().unwrap();
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                    let body: Value =
                        serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                    body["error"].as_str().unwrap().to_owned()
                }
                other => panic!("the token was not refused: {:?}", other.map(|_| ())),
            }
        }
    };
    assert!(
        refusal("lbt_forged".to_owned())
            .await
            .starts_with("the portal does not know this token")
    );
    // A token past its expiry (90 days after pairing).
    sqlx::query("UPDATE bridge_tokens SET expires_at = '1970-01-01T00:00:00.000Z'")
        .execute(&app.app.db)
        .await
        .unwrap();
    assert!(
        refusal(token.to_owned())
            .await
            .starts_with("this token has expired: pair again")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bridge_the_portal_says_how_to_connect() {
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some("/nonexistent/kubeconfig".into());
    })
    .await;
    app.add_account("ada", Role::Learner, None).await;
    let ada = signed_in(&app, "ada").await;
    let response = ada
        .post_json(
            "/api/labs/ha-control-plane/steps/monitoring-rbac/check",
            "{}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().starts_with(
            "your cluster is not connected: run `lectern connect` on the machine where it runs"
        ),
        "{body}"
    );
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["connected"], false);
    assert_eq!(
        status["checks_use"],
        Value::Null,
        "nothing to check until they connect"
    );
    assert_eq!(
        status["command"],
        format!("lectern connect {}", app.url(""))
    );
    let page = html(&ada, "/modules/cluster-architecture").await;
    assert!(
        page.contains("data-bridge-panel"),
        "the lab shows the bridge's status"
    );
    assert!(
        page.contains(r#"<a href="/connect">Your cluster</a>"#),
        "every page links to it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_bridge_reconnects_and_a_newer_one_replaces_it() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let mut first = connect(&app, &ada, "ada", &cluster.kubeconfig).await;
    let learner = learner_id(&app, "ada").await;
    let link = app.app.reach.bridges.get(learner).unwrap();
    link.close("the portal is restarting");
    let mut back = None;
    for _ in 0..200 {
        back = app
            .app
            .reach
            .bridges
            .get(learner)
            .filter(|l| !std::sync::Arc::ptr_eq(l, &link));
        if back.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        back.is_some(),
        "reconnected after the back-off\n{}",
        first.stderr()
    );
    assert!(
        first.stderr().contains(
            "the portal closed the connection: the portal is restarting; connecting again in 1 s"
        ),
        "{}",
        first.stderr()
    );
    assert_eq!(check(&ada, "monitoring-rbac").await["via"], "bridge");

    // The same learner connects from another terminal: the first one stops, saying why.
    let second = connect_cmd(
        first.config.path(),
        &[
            &app.url(""),
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), first.child.wait())
        .await
        .expect("the replaced connection ends")
        .unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(
        first.stderr().contains(
            "the portal closed the connection: replaced by a newer connection for the same learner"
        ),
        "{}",
        first.stderr()
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_answer_is_reported_on_both_sides() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    // The learner's kubeconfig points at a cluster that is not running (nothing listens there).
    let dir = tempfile::tempdir().unwrap();
    let stopped = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let port = cluster.addr.port().to_string();
    let closed = crate::common::free_port().to_string();
    std::fs::write(&stopped, text.replace(&port, &closed)).unwrap();
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let bridge = connect(&app, &ada, "ada", &stopped).await;
    assert!(
        bridge.stderr().contains("warning: your cluster does not answer yet (cannot reach the cluster at https://127.0.0.1:"),
        "{}",
        bridge.stderr()
    );
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["connected"], true);
    assert_eq!(status["cluster_answers"], false);
    let run = check(&ada, "create-ha-cluster").await;
    assert_eq!(run["status"], "error");
    let message = run["results"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("your cluster does not answer"),
        "{message}"
    );
}

/// A TLS-terminating reverse proxy in front of the portal, as organisations deploy it on 443; the
/// CLI trusts its test CA through `SSL_CERT_FILE`, as it would a company CA.
async fn tls_proxy(backend: std::net::SocketAddr, dir: &Path) -> (u16, std::path::PathBuf) {
    let (acceptor, ca_pem) =
        crate::common::kube_api::tls_acceptor("Example Org CA", &["localhost"]);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    (port, ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_and_the_bridge_work_over_https_through_a_tls_proxy() {
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let config = tempfile::tempdir().unwrap();
    let (port, ca_file) = tls_proxy(app.addr, config.path()).await;
    let code = pairing_code(&ada).await;
    let portal = format!("https://localhost:{port}");
    let mut bridge = connect_cmd(
        config.path(),
        &[
            &portal,
            "--code",
            &code,
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
        ],
    )
    .env("SSL_CERT_FILE", &ca_file)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let learner = learner_id(&app, "ada").await;
    for _ in 0..200 {
        if app.app.reach.bridges.get(learner).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if app.app.reach.bridges.get(learner).is_none() {
        bridge.start_kill().ok();
        let output = bridge.wait_with_output().await.unwrap();
        panic!(
            "no bridge over wss://\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let run = check(&ada, "monitoring-rbac").await;
    assert_eq!(run["via"], "bridge");
    assert_eq!(run["status"], "passed");
    bridge.start_kill().ok();
}

/// Two servers of one portal on PostgreSQL: the bridge is held by the one `lectern connect`
/// reached, and a learner whose requests reach the other is checked through it all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_reaching_the_other_replica_is_relayed_through_the_one_holding_the_bridge() {
    if postgres_under_test().is_none() {
        return; // one SQLite file has one server
    }
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let holder = portal_with(&["ada"]).await;
    let other = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.cluster_timeout = 10;
        c.db.location = Some(holder.db.parse().unwrap());
    })
    .await;
    let ada_at_holder = signed_in(&holder, "ada").await;
    let bridge = connect(&holder, &ada_at_holder, "ada", &cluster.kubeconfig).await;
    let learner = learner_id(&holder, "ada").await;
    assert!(
        other.app.reach.bridges.get(learner).is_none(),
        "held by the first"
    );

    // The same session on the other server (sessions are in the shared database).
    let mut ada = Browser::new(&other);
    ada.session = ada_at_holder.session.clone();
    let run = check(&ada, "recover").await;
    assert_eq!(run["via"], "bridge", "{run}");
    assert_eq!(
        verdicts(&run),
        verdicts(&direct(&cluster.kubeconfig, 6).await)
    );
    assert_eq!(run["status"], "passed");
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["link"]["server_version"], "v1.36.0");
    let mut told = false;
    for _ in 0..100 {
        told = bridge
            .stdout()
            .contains("portal checked step 6 (recover): 6 passed");
        if told {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        told,
        "the learner's terminal hears of it\n{}",
        bridge.stdout()
    );

    // A step followed on the other server is watched through the holder, as it happens.
    cluster.set_objects(kind::single_node_cluster("kind"));
    let (mut events, following) = follow_step_2(&ada).await;
    assert_eq!(following["mode"], "watching", "{following}");
    let held = holder.app.reach.bridges.get(learner).unwrap();
    // Each watcher lists, then watches: the watches follow the first picture.
    for _ in 0..100 {
        if cluster.watches_of("nodes") >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held.watches() >= 4, "the holder relays the other's watches");
    cluster.set_objects(kind::lab_complete());
    events
        .until(Duration::from_secs(5), |e| {
            e.name == "verdict" && e.json()["run"]["status"] == "passed"
        })
        .await;
    for _ in 0..100 {
        if held.watches() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        held.watches(),
        0,
        "dropped on the other server, cancelled here"
    );

    // Only the portal's own servers may use the relay.
    let relay = other.url(&format!("/api/replicas/bridges/{learner}"));
    let anonymous = reqwest::get(&relay).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let guessed = reqwest::Client::new()
        .get(&relay)
        .bearer_auth("not-the-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        guessed.headers()["content-type"],
        "application/json",
        "an API error"
    );

    // Revoking the machine on the other server closes the bridge where it is held.
    revoke_the_connected_machine(&ada).await;
    for _ in 0..200 {
        if holder.app.reach.bridges.get(learner).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        holder.app.reach.bridges.get(learner).is_none(),
        "closed where held"
    );
    let after = ada
        .post_json("/api/labs/ha-control-plane/steps/recover/check", "{}")
        .await;
    assert_eq!(after.status(), StatusCode::CONFLICT, "no bridge any more");
}

/// The requests a hostile portal sends, each in many spellings: what the API server decodes
/// (percent-encoded letters, upper-case hex, double encoding), mixed case, dot segments and empty
/// segments, the legacy `/watch/` routes, and every way `?watch` is read as true.
fn hostile_requests() -> Vec<(&'static str, String)> {
    let bases = [
        ("GET", "/api/v1/secrets"),
        ("GET", "/api/v1/namespaces/kube-system/secrets"),
        (
            "GET",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
        ),
        (
            "GET",
            "/api/v1/namespaces/kube-system/pods/coredns-7db6d8ff4d-4x2lk/log",
        ),
        ("GET", "/api/v1/nodes/k8s-ha-control-plane/proxy/configz"),
        (
            "GET",
            "/api/v1/namespaces/default/services/kubernetes/proxy/",
        ),
        (
            "GET",
            "/api/v1/namespaces/kube-system/pods/coredns-7db6d8ff4d-4x2lk/exec?command=sh",
        ),
        (
            "GET",
            "/api/v1/namespaces/kube-system/pods/coredns-7db6d8ff4d-4x2lk/attach",
        ),
        (
            "GET",
            "/api/v1/namespaces/kube-system/pods/coredns-7db6d8ff4d-4x2lk/portforward",
        ),
        ("GET", "/api/v1/watch/secrets?timeoutSeconds=1"),
        ("GET", "/api/v1/watch/namespaces/kube-system/pods"),
        (
            "DELETE",
            "/api/v1/namespaces/kube-system/pods/coredns-7db6d8ff4d-4x2lk",
        ),
        (
            "POST",
            "/api/v1/namespaces/kube-system/serviceaccounts/default/token",
        ),
    ];
    let words = [
        "secrets",
        "log",
        "proxy",
        "exec",
        "attach",
        "portforward",
        "watch",
    ];
    let mut requests = Vec::new();
    for (method, path) in bases {
        requests.push((method, path.to_owned()));
        for word in words.iter().filter(|w| path.contains(&format!("/{w}"))) {
            let hex = |b: u8| format!("%{b:02x}");
            let first = format!("{}{}", hex(word.as_bytes()[0]), &word[1..]);
            let last = format!(
                "{}{}",
                &word[..word.len() - 1],
                hex(*word.as_bytes().last().unwrap())
            );
            let every: String = word.bytes().map(|b| format!("%{b:02X}")).collect();
            let double = format!("%25{:02x}{}", word.as_bytes()[0], &word[1..]);
            let capital = format!("{}{}", word[..1].to_uppercase(), &word[1..]);
            for spelling in [first, last, every, double, capital, word.to_uppercase()] {
                requests.push((
                    method,
                    path.replace(&format!("/{word}"), &format!("/{spelling}")),
                ));
            }
        }
        for prefix in [
            "/api/v1/./",
            "/api/v1/nodes/../",
            "/api/v1/nodes/%2e%2e/",
            "/api/v1/nodes/%2E%2E/",
            "/api//v1/",
            "/api/v1%2F",
            "/api/v1/%2F",
        ] {
            requests.push((method, path.replacen("/api/v1/", prefix, 1)));
        }
    }
    for list in ["/api/v1/pods", "/api/v1/namespaces/kube-system/secrets"] {
        for query in [
            "watch=true",
            "watch=yes",
            "watch",
            "watch=",
            "watch=True",
            "%77atch=true",
            "w%61tch=1",
            "limit=1&watch=1",
            "limit=1;watch=1",
            "watch=false&watch=true",
            "allowWatchBookmarks=true&watch=1",
        ] {
            requests.push(("GET", format!("{list}?{query}")));
        }
    }
    requests
}

/// A hostile portal: a WebSocket server of the test's own that speaks the protocol to the real
/// `lectern connect`, greets it with terminal escapes in the learner's name and a note, sends
/// `frames` one by one and gives back the answer frames to each: a request's answer; a watch's
/// refusal, or its `stream` and first `events` (after which it cancels the watch).
async fn hostile_portal(
    frames: Vec<lectern::bridge::protocol::Down>,
) -> (
    String,
    tokio::sync::oneshot::Receiver<Vec<Vec<lectern::bridge::protocol::Up>>>,
) {
    use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
    use lectern::bridge::protocol::{Down, Up};
    let (done, answers) = tokio::sync::oneshot::channel();
    let done = std::sync::Arc::new(std::sync::Mutex::new(Some(done)));
    let router = axum::Router::new().route(
        "/api/bridge",
        axum::routing::get(move |upgrade: WebSocketUpgrade| {
            let (done, frames) = (done.clone(), frames.clone());
            async move {
                upgrade.on_upgrade(move |mut socket| async move {
                    let _hello = socket.recv().await;
                    let send = |frame: &Down| {
                        WsMessage::Text(serde_json::to_string(frame).unwrap().into())
                    };
                    let welcome = Down::Welcome {
                        version: 2,
                        learner: "mallory\u{1b}]52;c;cm0gLXJmIH4K\u{7}\u{1b}[2J\u{1b}[1A"
                            .to_owned(),
                    };
                    socket.send(send(&welcome)).await.unwrap();
                    let note = Down::Note {
                        text: "\u{1b}]0;pwned\u{7}\rConnected to https://bank.example as you"
                            .to_owned(),
                    };
                    socket.send(send(&note)).await.unwrap();
                    let mut answers = Vec::new();
                    for frame in frames {
                        let asked = match &frame {
                            Down::Request { id, .. } | Down::Watch { id, .. } => *id,
                            _ => u64::MAX,
                        };
                        socket.send(send(&frame)).await.unwrap();
                        let mut answer = Vec::new();
                        loop {
                            let up = match socket.recv().await {
                                Some(Ok(WsMessage::Text(text))) => {
                                    serde_json::from_str::<Up>(&text).unwrap()
                                }
                                Some(Ok(_)) => continue,
                                other => panic!("the bridge went away: {other:?}"),
                            };
                            let id = match &up {
                                Up::Response { id, .. }
                                | Up::Refused { id, .. }
                                | Up::Stream { id, .. }
                                | Up::Events { id, .. }
                                | Up::End { id, .. } => *id,
                                Up::Hello { .. } => u64::MAX,
                            };
                            if id != asked {
                                continue; // a cancelled watch's late events
                            }
                            let finished = match &up {
                                Up::Stream { .. } => false,
                                Up::Events { id, .. } => {
                                    socket.send(send(&Down::Cancel { id: *id })).await.unwrap();
                                    true
                                }
                                _ => true,
                            };
                            answer.push(up);
                            if finished {
                                break;
                            }
                        }
                        answers.push(answer);
                    }
                    if let Some(done) = done.lock().unwrap().take() {
                        let _ = done.send(answers);
                    }
                    let _ = socket.recv().await;
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, answers)
}

/// Runs the real `lectern connect` against a hostile portal sending `frames`, relaying to
/// `cluster`: its answers, and what it printed.
async fn answers_to_hostile_portal(
    cluster: &FakeCluster,
    frames: Vec<lectern::bridge::protocol::Down>,
) -> (Vec<Vec<lectern::bridge::protocol::Up>>, String) {
    let (portal, answers) = hostile_portal(frames).await;
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("bridges.json"),
        serde_json::json!({ &portal: "lbt_hostile" }).to_string(),
    )
    .unwrap();
    let output = config.path().join("stdout");
    let _connect = connect_cmd(
        config.path(),
        &[
            &portal,
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
        ],
    )
    .stdout(std::fs::File::create(&output).unwrap())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let answers = tokio::time::timeout(Duration::from_secs(60), answers)
        .await
        .expect("the bridge answered every frame")
        .unwrap();
    (answers, std::fs::read_to_string(&output).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_portal_reaches_no_secret_log_proxy_shell_or_watch_however_it_spells_them() {
    use lectern::bridge::protocol::{Down, Up};
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let forbidden = hostile_requests();
    let mut requests: Vec<(&str, String, Option<&str>)> = forbidden
        .iter()
        .map(|(method, path)| (*method, path.clone(), Some("application/json")))
        .collect();
    // What the portal may do, to show the bridge relays at all (and decodes as the cluster does).
    let reads = [
        ("/api/v1/nodes", None),
        ("/api/v1/%6eodes?%6cimit=10", None),
        (
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
            Some(metadata),
        ),
    ];
    for (path, accept) in reads {
        requests.push(("GET", path.to_owned(), accept));
    }
    let frames = requests
        .into_iter()
        .enumerate()
        .map(|(id, (method, path, accept))| Down::Request {
            id: id as u64,
            method: method.to_owned(),
            path,
            headers: accept
                .map(|a| vec![("accept".to_owned(), a.to_owned())])
                .unwrap_or_default(),
            body: String::new(),
            context: None,
        })
        .collect();
    let (answers, stdout) = answers_to_hostile_portal(&cluster, frames).await;
    let answers: Vec<&Up> = answers.iter().map(|a| &a[0]).collect();
    for ((method, path), answer) in forbidden.iter().zip(&answers) {
        assert!(
            matches!(answer, Up::Refused { status: 403, .. }),
            "{method} {path} was relayed: {answer:?}"
        );
    }
    for ((path, _), answer) in reads.iter().zip(&answers[forbidden.len()..]) {
        assert!(
            matches!(answer, Up::Response { status: 200, .. }),
            "GET {path}: {answer:?}"
        );
    }
    let served = cluster.served();
    assert_eq!(
        served,
        ["list nodes", "list nodes", "get secrets (metadata)"],
        "what the cluster served"
    );
    assert!(
        !stdout.contains(['\u{1b}', '\u{7}', '\r']),
        "the portal's text reached the terminal raw: {stdout:?}"
    );
    assert!(
        stdout.contains("as mallory\\u{1b}]52;c;cm0gLXJmIH4K\\u{7}\\u{1b}[2J"),
        "{stdout}"
    );
    assert!(stdout.contains("refused GET /api/v1/%73ecrets"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_portal_watches_only_what_it_may_read_and_secrets_as_metadata() {
    use lectern::bridge::protocol::{Down, Up, decode_body};
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let mut forbidden: Vec<String> = hostile_requests()
        .into_iter()
        .filter(|(method, _)| *method == "GET")
        .map(|(_, path)| {
            let joiner = if path.contains('?') { '&' } else { '?' };
            format!("{path}{joiner}watch=true")
        })
        .collect();
    forbidden.extend(
        [
            "/api/v1/secrets?watch=true",
            "/api/v1/namespaces/kube-system/secrets?watch=1",
            "/api/v1/nodes/k8s-ha-control-plane?watch=true",
            "/api/v1/nodes?watch=yes",
            "/api/v1/nodes",
            "/api/v1/nodes?watch=true&follow=true",
        ]
        .map(str::to_owned),
    );
    let watch = |id: usize, path: &str, accept: &str| Down::Watch {
        id: id as u64,
        path: path.to_owned(),
        headers: vec![("accept".to_owned(), accept.to_owned())],
        context: None,
    };
    let mut frames: Vec<Down> = forbidden
        .iter()
        .enumerate()
        .map(|(id, path)| watch(id, path, "application/json"))
        .collect();
    frames.push(watch(
        frames.len(),
        "/api/v1/n%6fdes?watch=1&allowWatchBookmarks=true&timeoutSeconds=30",
        "application/json",
    ));
    frames.push(watch(
        frames.len(),
        "/api/v1/namespaces/kube-system/secrets?watch=true",
        metadata,
    ));
    let (answers, stdout) = answers_to_hostile_portal(&cluster, frames).await;
    for (path, answer) in forbidden.iter().zip(&answers) {
        assert!(
            matches!(answer.as_slice(), [Up::Refused { status: 403, .. }]),
            "watch {path} was relayed: {answer:?}"
        );
    }
    let events = |answer: &[Up]| -> Vec<Value> {
        let [Up::Stream { status: 200, .. }, Up::Events { body, .. }] = answer else {
            panic!("not streamed: {answer:?}");
        };
        String::from_utf8(decode_body(body).unwrap())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let nodes = events(&answers[forbidden.len()]);
    assert!(
        nodes
            .iter()
            .any(|e| e["type"] == "ADDED" && e["object"]["kind"] == "Node"),
        "{nodes:?}"
    );
    let secrets = events(&answers[forbidden.len() + 1]);
    assert!(!secrets.is_empty());
    for event in &secrets {
        assert_eq!(event["object"]["kind"], "PartialObjectMetadata", "{event}");
        assert!(event["object"].get("data").is_none(), "{event}");
    }
    assert_eq!(
        cluster.served(),
        ["watch nodes", "watch secrets (metadata)"],
        "what the cluster served"
    );
    assert!(
        stdout.contains("refused to watch /api/v1/%73ecrets?watch=true"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_passes_done_with_the_page_closed_and_the_bridge_connected() {
    let before = kind::with_monitoring_rbac(kind::ha_cluster());
    let cluster = FakeCluster::start(before.clone()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let _bridge = connect(&app, &ada, "ada", &cluster.kubeconfig).await;
    let step = "/api/labs/ha-control-plane/steps/lose-a-control-plane-node";
    let started = ada.post_json(&format!("{step}/start"), "{}").await;
    assert_eq!(started.status(), StatusCode::OK);
    // No page of the learner's is open: the step is followed all the same.
    for _ in 0..200 {
        if cluster.watches_of("leases") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cluster.watches_of("leases") > 0, "{:?}", cluster.served());
    let mut outage = before.clone();
    kind::pause_node(&mut outage, "k8s-ha-control-plane");
    kind::create_probe(&mut outage);
    cluster.set_objects(outage);
    let mut latest = Value::Null;
    for _ in 0..200 {
        latest = ada
            .get(&format!("{step}/runs/latest"))
            .await
            .json()
            .await
            .unwrap_or(Value::Null);
        if latest["status"] == "passed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(latest["status"], "passed", "{latest}");
    assert_eq!(latest["via"], "bridge");
    assert!(latest["passed_at"].is_string(), "{latest}");
    // The node comes back: the pass from the outage is kept.
    cluster.set_objects(before);
    let again = check(&ada, "lose-a-control-plane-node").await;
    assert_eq!(again["status"], "failed", "the outage is over");
    assert_eq!(again["passed_at"], latest["passed_at"], "{again}");
}

/// Module 01's restore asks two clusters: one `lectern connect` relays both contexts, each
/// read-only, and a portal learner passes the step through it (review finding H2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bridge_relays_both_clusters_and_the_restore_passes_through_it() {
    let ha = FakeCluster::start(kind::lab_done()).await;
    let solo = FakeCluster::start(kind::solo_before_snapshot()).await;
    let app = portal_with(&["ada"]).await;
    let ada = signed_in(&app, "ada").await;
    let both = ha.kubeconfig_with(&solo, "kind-solo");
    let bridge = connect_with(
        &app,
        &ada,
        "ada",
        &both,
        &["--context", "kind-k8s-ha", "--context", "kind-solo"],
    )
    .await;
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["link"]["context"], "kind-k8s-ha");
    assert_eq!(status["link"]["contexts"], serde_json::json!(["kind-solo"]));
    assert_eq!(status["link"]["protocol"], 3);
    assert!(
        html(&ada, "/connect")
            .await
            .contains("contexts <code>kind-k8s-ha</code>, <code>kind-solo</code>"),
        "the Connect page names both"
    );
    let facts: Value = ada
        .post_json("/api/cluster/preflight", "{}")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(facts["context"], "kind-k8s-ha", "{facts}");
    assert_eq!(
        facts["contexts"],
        serde_json::json!([{ "context": "kind-solo", "version": "v1.36.0", "problem": null }]),
        "the preflight reaches the second cluster through the bridge"
    );

    restore_through_the_bridge(&ada, &ha, &solo).await;
    let out = bridge.stdout();
    assert!(
        out.contains("relaying read-only requests to kind-k8s-ha, kind-solo (Kubernetes v1.36.0)"),
        "{out}"
    );
}

/// Two servers of one portal on PostgreSQL, a bridge relaying two contexts held by the first: the
/// learner's step 7 checked on the second reaches `kind-solo` through the holder
/// (`RelayRequest.context`), and passes once the restore is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_check_on_the_other_replica_reaches_its_context_through_the_holder() {
    if postgres_under_test().is_none() {
        return; // one SQLite file has one server
    }
    let ha = FakeCluster::start(kind::lab_done()).await;
    let solo = FakeCluster::start(kind::solo_before_snapshot()).await;
    let holder = portal_with(&["ada"]).await;
    let other = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.cluster_timeout = 10;
        c.db.location = Some(holder.db.parse().unwrap());
    })
    .await;
    let ada_at_holder = signed_in(&holder, "ada").await;
    let both = ha.kubeconfig_with(&solo, "kind-solo");
    let _bridge = connect_with(
        &holder,
        &ada_at_holder,
        "ada",
        &both,
        &["--context", "kind-k8s-ha", "--context", "kind-solo"],
    )
    .await;
    let learner = learner_id(&holder, "ada").await;
    assert!(
        other.app.reach.bridges.get(learner).is_none(),
        "held by the first"
    );
    let mut ada = Browser::new(&other);
    ada.session = ada_at_holder.session.clone();

    restore_through_the_bridge(&ada, &ha, &solo).await;
}

/// Step 7 through a bridge relaying both contexts: started, the after-snapshot objects seen on
/// solo, the restore done, and the step passed via the bridge, each context's checks having
/// reached its own cluster.
async fn restore_through_the_bridge(ada: &Browser<'_>, ha: &FakeCluster, solo: &FakeCluster) {
    let step = "/api/labs/ha-control-plane/steps/backup-and-restore";
    assert_eq!(
        ada.post_json(&format!("{step}/start"), "{}").await.status(),
        StatusCode::OK
    );
    solo.set_objects(kind::solo_not_restored());
    let before = check(ada, "backup-and-restore").await;
    let seen = check_result(&before, "configmap-after-snapshot-seen");
    assert_eq!(seen["status"], "passed", "{before}");
    kind::restore_solo(solo);
    let restored = check(ada, "backup-and-restore").await;
    assert_eq!(restored["status"], "passed", "{restored}");
    assert_eq!(restored["via"], "bridge");
    assert!(
        solo.served().iter().any(|s| s == "get leases"),
        "{:?}",
        solo.served()
    );
    assert!(
        !ha.requests().iter().any(|r| r.contains("before-snapshot")),
        "the HA cluster was not asked for solo's objects"
    );
}
