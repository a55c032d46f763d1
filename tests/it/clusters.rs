//! Portal mode: each learner's checks run against the cluster an admin assigned them.

use reqwest::StatusCode;

use crate::auth::{Browser, PASSWORD};
use crate::common::TestApp;
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::{FakeCluster, TOKEN};
use lectern::auth::{self, Role};

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
        auth::create_account(&app.app.db, name, role, PASSWORD, cohort)
            .await
            .unwrap();
    }
    let mut root = Browser::new(&app);
    root.sign_in_as("root", PASSWORD).await;
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

    let mut ada = Browser::new(&app);
    ada.sign_in_as("ada", PASSWORD).await;
    assert_eq!(
        check_step4(&ada).await["status"],
        "passed",
        "ada's own cluster"
    );
    let mut grace = Browser::new(&app);
    grace.sign_in_as("grace", PASSWORD).await;
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

#[tokio::test]
async fn bad_assignments_are_refused_with_a_reason() {
    let app = TestApp::spawn_portal().await;
    auth::create_account(&app.app.db, "root", Role::Admin, PASSWORD, None)
        .await
        .unwrap();
    auth::create_account(&app.app.db, "ada", Role::Learner, PASSWORD, None)
        .await
        .unwrap();
    let mut root = Browser::new(&app);
    root.sign_in_as("root", PASSWORD).await;
    let csrf = root.csrf().await;
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
            "the kubeconfig has no context `other`",
        ),
        (
            vec![("username", "nobody"), ("kubeconfig", kubeconfig)],
            "there is no learner `nobody`",
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
}
