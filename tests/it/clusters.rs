//! Portal mode: each learner's checks run against the cluster an admin assigned them.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::PASSWORD;
use crate::common::TestApp;
use crate::common::browser::Browser;
use crate::common::browser::signed_in;
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::{FakeCluster, TOKEN};
use lectern::auth::Role;

async fn check_step4(browser: &Browser<'_>) -> serde_json::Value {
    let response = browser
        .post_json(
            "/api/labs/ha-control-plane/steps/monitoring-rbac/check",
            "{}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_use_the_cluster_assigned_to_the_learner_or_their_cohort() {
    let fresh = FakeCluster::start(kind::ha_cluster()).await;
    let done = FakeCluster::start(kind::lab_done()).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(fresh.kubeconfig.clone());
    })
    .await;
    for (name, role, cohort) in [
        ("root", Role::Admin, None),
        ("ada", Role::Learner, Some("spring")),
        ("grace", Role::Learner, Some("autumn")),
        ("kim", Role::Learner, Some("autumn")),
    ] {
        app.add_account(name, role, cohort).await;
    }
    let root = signed_in(&app, "root").await;
    let csrf = root.csrf().await;
    let done_kubeconfig = std::fs::read_to_string(&done.kubeconfig).unwrap();

    let assigned = root
        .post_form(
            "/admin/clusters",
            &[
                ("csrf", &csrf),
                ("username", "ada"),
                ("kubeconfig", &done_kubeconfig),
            ],
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let page = assigned.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "Assigned https://127.0.0.1:{} to 1 learner.",
            done.addr.port()
        )),
        "{page}"
    );
    assert!(!page.contains(TOKEN), "credentials are never shown back");
    // The double's token is kind's admin: the page says it can write, and what to do.
    assert!(
        page.contains("Give this identity a read-only role") && page.contains("s identity may "),
        "{page}"
    );

    let ada = signed_in(&app, "ada").await;
    assert_eq!(
        check_step4(&ada).await["status"],
        "passed",
        "ada's own cluster"
    );
    // The module page's panel says which cluster checks use: no false "not connected".
    let status: Value = ada.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["connected"], false);
    assert_eq!(status["checks_use"], "assigned", "{status}");
    let grace = signed_in(&app, "grace").await;
    let status: Value = grace.get("/api/bridge/status").await.json().await.unwrap();
    assert_eq!(status["checks_use"], "server", "{status}");
    assert_eq!(
        check_step4(&grace).await["status"],
        "failed",
        "no assignment: the server's cluster"
    );

    let cohort = root
        .post_form(
            "/admin/clusters",
            &[
                ("csrf", &csrf),
                ("cohort", "autumn"),
                ("kubeconfig", &done_kubeconfig),
                ("context", "kind-k8s-ha"),
            ],
        )
        .await;
    assert!(cohort.text().await.unwrap().contains("to 2 learners."));
    assert_eq!(
        check_step4(&grace).await["status"],
        "passed",
        "the whole cohort was assigned"
    );

    assert_eq!(
        ada.get("/admin/clusters").await.status(),
        StatusCode::FORBIDDEN,
        "learners never reach the credentials"
    );
}

/// An admin `root`, signed in (with its CSRF token), and a learner `ada`.
async fn admin_beside_ada(app: &TestApp) -> (Browser<'_>, String) {
    app.add_account("root", Role::Admin, None).await;
    app.add_account("ada", Role::Learner, None).await;
    let mut root = Browser::new(app);
    root.sign_in_as("root", PASSWORD).await;
    let csrf = root.csrf().await;
    (root, csrf)
}

#[tokio::test]
async fn bad_assignments_are_refused_with_a_reason() {
    let app = TestApp::spawn_portal().await;
    let (root, csrf) = admin_beside_ada(&app).await;
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user:\n    token: t\n";
    for (form, expected) in [
        (
            vec![("username", "ada"), ("kubeconfig", "clusters: [")],
            "the kubeconfig cannot be read",
        ),
        (
            vec![
                ("username", "ada"),
                ("kubeconfig", kubeconfig),
                ("context", "other"),
            ],
            "the kubeconfig has no context <code>other</code>",
        ),
        (
            vec![("username", "nobody"), ("kubeconfig", kubeconfig)],
            "there is no learner <code>nobody</code>",
        ),
        (
            vec![("kubeconfig", kubeconfig)],
            "name either one learner or one cohort",
        ),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        let response = root.post_form("/admin/clusters", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "expected {expected:?} in the page");
        // What was typed comes back, so nothing is lost to a mistake.
        for (name, value) in &fields[1..] {
            let kept = if *name == "kubeconfig" {
                format!(">{}</textarea>", value.replace('"', "&quot;"))
            } else {
                format!("name=\"{name}\" value=\"{value}\"")
            };
            assert!(body.contains(&kept), "{name} kept: {body}");
        }
    }
    let ok = root
        .post_form(
            "/admin/clusters",
            &[
                ("csrf", &csrf),
                ("username", "ada"),
                ("kubeconfig", kubeconfig),
            ],
        )
        .await;
    let page = ok.text().await.unwrap();
    assert!(
        page.contains("<td>ada</td><td>https://10.0.0.1:6443</td>"),
        "{page}"
    );
    // Unassigned from its row: ada's checks use the server's cluster again.
    let action = page
        .split("action=\"/admin/clusters/")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with("/unassign"))
        .expect("an unassign form")
        .to_owned();
    let unassign = format!("/admin/clusters/{action}");
    let done = root.post_form(&unassign, &[("csrf", &csrf)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let page = done.text().await.unwrap();
    assert!(page.contains("Unassigned ada&#39;s cluster"), "{page}");
    assert!(!page.contains("<td>ada</td>"), "{page}");
    let again = root.post_form(&unassign, &[("csrf", &csrf)]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("that learner has no assigned cluster")
    );
}

/// A kubeconfig field for each way a kubeconfig can make the server run a program, read one of its
/// files or send credentials elsewhere, spliced into a valid kubeconfig.
const HOSTILE_FIELDS: &[(&str, &str, &str)] = &[
    (
        "user",
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"touch /tmp/pwned\"]\n",
        "users[u].user.exec",
    ),
    (
        "user",
        "    auth-provider:\n      name: gcp\n      config:\n        cmd-path: /bin/sh\n",
        "users[u].user.auth-provider",
    ),
    (
        "user",
        "    tokenFile: /etc/passwd\n",
        "users[u].user.tokenFile",
    ),
    (
        "user",
        "    client-certificate: /etc/ssl/private/server.crt\n",
        "users[u].user.client-certificate",
    ),
    (
        "user",
        "    client-key: /etc/ssl/private/server.key\n",
        "users[u].user.client-key",
    ),
    (
        "cluster",
        "    certificate-authority: /etc/shadow\n",
        "clusters[c].cluster.certificate-authority",
    ),
    (
        "cluster",
        "    proxy-url: http://127.0.0.1:3128\n",
        "clusters[c].cluster.proxy-url",
    ),
];

fn kubeconfig_with(place: &str, field: &str) -> String {
    let cluster = if place == "cluster" { field } else { "" };
    let user = if place == "user" { field } else { "" };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n{cluster}\
         contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user:\n    token: t\n{user}"
    )
}

#[tokio::test]
async fn assigned_kubeconfigs_may_carry_only_inline_credentials() {
    let app = TestApp::spawn_portal().await;
    let (root, csrf) = admin_beside_ada(&app).await;
    for (place, field, name) in HOSTILE_FIELDS {
        let kubeconfig = kubeconfig_with(place, field);
        let response = root
            .post_form(
                "/admin/clusters",
                &[
                    ("csrf", &csrf),
                    ("username", "ada"),
                    ("kubeconfig", &kubeconfig),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("<code>{name}</code>")) || page.contains(&format!("`{name}`")),
            "{name} named in: {page}"
        );
        assert!(page.contains("only inline credentials"), "{name}");
    }
    assert!(
        lectern::labs::assignments(&app.app.db)
            .await
            .unwrap()
            .is_empty(),
        "nothing was assigned"
    );
}

#[tokio::test]
async fn a_hostile_kubeconfig_stored_before_the_rule_is_refused_when_checks_run() {
    let marker = tempfile::tempdir().unwrap();
    let pwned = marker.path().join("pwned");
    let app = TestApp::spawn_portal().await;
    app.add_account("ada", Role::Learner, None).await;
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"touch {}\"]\n",
        pwned.display()
    );
    let kubeconfig = kubeconfig_with("user", &exec).replace("    token: t\n", "");
    // As a release before the rule stored it: straight into the table.
    sqlx::query(
        "INSERT INTO cluster_assignments (learner_id, kubeconfig, server)
         SELECT learner_id, $1, 'https://10.0.0.1:6443' FROM accounts WHERE username = 'ada'",
    )
    .bind(&kubeconfig)
    .execute(&app.app.db)
    .await
    .unwrap();
    let ada = signed_in(&app, "ada").await;
    let response = ada
        .post_json(
            "/api/labs/ha-control-plane/steps/monitoring-rbac/check",
            "{}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let error = response.json::<serde_json::Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("users[u].user.exec"), "{error}");
    assert!(error.contains("assign it again"), "{error}");
    assert!(!pwned.exists(), "the plugin never ran");
}

/// The fake cluster's kubeconfig with its token replaced by an exec plugin running `script`.
fn operator_kubeconfig_with_plugin(
    fake: &FakeCluster,
    dir: &std::path::Path,
    script: &str,
) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugin = dir.join("credential-plugin");
    std::fs::write(&plugin, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kubeconfig = std::fs::read_to_string(&fake.kubeconfig).unwrap().replace(
        &format!("    token: {TOKEN}\n"),
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n      env:\n      - name: PLUGIN_SECRET\n        value: hunter2\n",
            plugin.display()
        ),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    path
}

const STEP4_CHECK: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_exec_plugin_supplies_the_credential() {
    let fake = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "[ -n \"$KUBERNETES_EXEC_INFO\" ] && [ \"$PLUGIN_SECRET\" = hunter2 ] || exit 3\n\
         echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{TOKEN}\"}}}}'"
    );
    let kubeconfig = operator_kubeconfig_with_plugin(&fake, dir.path(), &script);
    let app = TestApp::spawn_with_cluster(&kubeconfig).await;
    let response = app.post_check(STEP4_CHECK).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "passed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_exec_plugin_tells_the_learner_a_plain_sentence_and_nothing_of_the_plugin() {
    let fake = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = "echo \"secret-output $KUBERNETES_EXEC_INFO\" >&2; echo secret-stdout; exit 1";
    let kubeconfig = operator_kubeconfig_with_plugin(&fake, dir.path(), script);
    let app = TestApp::spawn_with_cluster(&kubeconfig).await;
    let response = app.post_check(STEP4_CHECK).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("could not get credentials for the cluster"),
        "{body}"
    );
    for leak in [
        "secret-output",
        "secret-stdout",
        "credential-plugin",
        "KUBERNETES_EXEC_INFO",
        "hunter2",
        "ExecCredential",
    ] {
        assert!(!body.contains(leak), "{leak} leaked: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_exec_plugins_do_not_stall_the_server_and_are_stopped() {
    let fake = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = operator_kubeconfig_with_plugin(&fake, dir.path(), "sleep 30");
    let app = TestApp::spawn_with_config(|c| {
        c.cluster.kubeconfig = Some(kubeconfig.clone());
        c.cluster.cluster_timeout = 1;
    })
    .await;
    // Two slow plugins at once: before, each blocked a worker thread, and with both blocked nothing
    // else was served.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url(STEP4_CHECK));
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body("{}")
                    .timeout(std::time::Duration::from_secs(15))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .expect("/healthz answers while plugins run");
    assert_eq!(health.status(), StatusCode::OK);
    for run in runs {
        let response = run
            .await
            .unwrap()
            .expect("answered once the plugin's limit (4 s) passed, not after its 30 s");
        assert_eq!(
            response.status(),
            StatusCode::BAD_GATEWAY,
            "stopped after the limit, not after 30 s"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("could not get credentials"), "{body}");
        assert!(!body.contains("sleep"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_too_often_gets_429_with_retry_after_and_a_sentence() {
    let fake = FakeCluster::start(kind::lab_done()).await;
    let app = TestApp::spawn_with_cluster(&fake.kubeconfig).await;
    for _ in 0..20 {
        assert_eq!(app.post_check(STEP4_CHECK).await.status(), StatusCode::OK);
    }
    let refused = app.post_check(STEP4_CHECK).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    assert_eq!(refused.headers()["cache-control"], "private, no-store");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("You are checking your work too often: wait {wait} s and try again.")
    );
    let runs: (i64,) = sqlx::query_as("SELECT count(*) FROM check_runs")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(
        runs.0, 20,
        "the refused run never reached the cluster or the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_whether_each_assigned_cluster_answers_and_can_test_one() {
    let up = FakeCluster::start(kind::ha_cluster()).await;
    let app = TestApp::spawn_with_config(|c| c.portal = true).await;
    for (name, role) in [
        ("root", Role::Admin),
        ("ada", Role::Learner),
        ("grace", Role::Learner),
        ("kim", Role::Learner),
    ] {
        app.add_account(name, role, None).await;
    }
    let root = signed_in(&app, "root").await;
    let csrf = root.csrf().await;
    let empty = root.get("/admin/clusters").await.text().await.unwrap();
    assert!(
        empty.contains("No cluster is assigned yet"),
        "an empty state"
    );
    assert!(
        empty.contains("<option value=\"ada\">") && !empty.contains("<option value=\"root\">"),
        "learners' names are offered as one types: {empty}"
    );
    // ada's cluster answers; grace's kubeconfig names a port where nothing listens.
    let working = std::fs::read_to_string(&up.kubeconfig).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = working.replace(
        &format!("127.0.0.1:{}", up.addr.port()),
        &format!("127.0.0.1:{closed_port}"),
    );
    for (name, kubeconfig) in [("ada", &working), ("grace", &down)] {
        let assigned = root
            .post_form(
                "/admin/clusters",
                &[
                    ("csrf", &csrf),
                    ("username", name),
                    ("kubeconfig", kubeconfig),
                ],
            )
            .await;
        assert_eq!(assigned.status(), StatusCode::OK);
    }
    let page = root.get("/admin/clusters").await.text().await.unwrap();
    assert!(page.contains("<span class=\"module-meta\">its current context</span>"));
    assert!(page.contains("aria-label=\"Test the connection to ada's cluster\""));

    let id = |name: &'static str| {
        let app = &app;
        async move {
            let (id,): (i64,) =
                sqlx::query_as("SELECT learner_id FROM accounts WHERE username = $1")
                    .bind(name)
                    .fetch_one(&app.app.db)
                    .await
                    .unwrap();
            id
        }
    };
    let (ada, grace, kim) = (id("ada").await, id("grace").await, id("kim").await);
    let answers: Value = root
        .get("/api/admin/clusters/reachability")
        .await
        .json()
        .await
        .unwrap();
    let answer = |learner: i64| {
        answers
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["learner_id"] == learner)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(answer(ada)["reachable"], true, "{answers}");
    assert!(
        answer(ada)["summary"]
            .as_str()
            .unwrap()
            .starts_with("Kubernetes v1.")
    );
    assert_eq!(answer(grace)["reachable"], false, "{answers}");
    assert_eq!(answer(kim), Value::Null, "no assignment, nothing to test");

    let test = |learner: i64| {
        let (root, csrf) = (&root, &csrf);
        async move {
            let answer = root
                .post_form(
                    &format!("/admin/clusters/{learner}/test"),
                    &[("csrf", csrf)],
                )
                .await;
            (answer.status(), answer.text().await.unwrap())
        }
    };
    let (status, page) = test(ada).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("ada&#39;s cluster answers: Kubernetes v1."),
        "{page}"
    );
    let (status, page) = test(grace).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the test ran; the cluster is what failed"
    );
    assert!(
        page.contains("grace&#39;s cluster does not answer, so their checks cannot run: "),
        "{page}"
    );
    assert_eq!(test(kim).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        root.post_form(
            &format!("/admin/clusters/{ada}/test"),
            &[("csrf", "forged")]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let learner = signed_in(&app, "ada").await;
    let refused = learner.get("/api/admin/clusters/reachability").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}
