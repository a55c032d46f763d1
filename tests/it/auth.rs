//! Portal mode: sign-in done properly, and every authorization rule, through real HTTP requests.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::kind_fixtures as kind;
use crate::common::kube_api::FakeCluster;
use crate::common::{TestApp, lectern_cmd, success_stdout};
use lectern::auth::{self, Role};

use crate::common::PASSWORD;
use crate::common::browser::{Browser, cookie_value, set_cookie, signed_in};
const STEP4: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac";

async fn portal_with_users() -> TestApp {
    let app = TestApp::spawn_portal().await;
    for (name, role) in [
        ("ada", Role::Learner),
        ("grace", Role::Learner),
        ("ines", Role::Instructor),
        ("root", Role::Admin),
    ] {
        app.add_account(name, role, None).await;
    }
    app
}

#[tokio::test]
async fn anonymous_visitors_reach_only_sign_in_static_files_and_health() {
    let app = portal_with_users().await;
    let anonymous = Browser::new(&app);
    for path in [
        "/",
        "/modules/cluster-architecture",
        "/admin/users",
        "/account/password",
        "/nothing",
    ] {
        let response = anonymous.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/sign-in?next="),
            "{path} → {location}"
        );
    }
    assert_eq!(
        anonymous
            .get("/modules/cluster-architecture")
            .await
            .headers()["location"],
        "/sign-in?next=/modules/cluster-architecture"
    );
    let api = anonymous.get(&format!("{STEP4}/runs/latest")).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.json::<Value>().await.unwrap()["error"], "sign in first");
    let post = anonymous.post_form(&format!("{STEP4}/check"), &[]).await;
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.get("/sign-in").await.status(), StatusCode::OK);
    assert_eq!(anonymous.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(anonymous.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(
        anonymous
            .get("/static/manifests/lectern-rbac.yaml")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn after_sign_in_only_same_site_paths_are_followed() {
    let app = portal_with_users().await;
    let hostile = [
        "/\t/evil.host/",
        "/\n/evil.host/",
        "/\r\nSet-Cookie: a=b",
        "//evil.host/",
        "/\\evil.host/",
        "https://evil.host/",
        "/%09/evil.host/\u{7f}",
        "/modules/é",
    ];
    for next in hostile {
        let mut browser = Browser::new(&app);
        let response = browser.sign_in_then("ada", PASSWORD, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()["location"], "/", "{next:?}");
        assert!(browser.session.is_some(), "signed in despite {next:?}");
        let query: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let again = browser.get(&format!("/sign-in?next={query}")).await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(again.headers()["location"], "/", "{next:?}");
    }
    let mut browser = Browser::new(&app);
    let response = browser
        .sign_in_then(
            "ada",
            PASSWORD,
            "/modules/cluster-architecture?x=%2F%2Fa#lab",
        )
        .await;
    assert_eq!(
        response.headers()["location"],
        "/modules/cluster-architecture?x=%2F%2Fa#lab",
        "a same-site path is kept as it is"
    );
}

#[tokio::test]
async fn sign_in_issues_a_new_httponly_lax_session_and_ignores_a_planted_one() {
    let app = portal_with_users().await;
    let mut browser = Browser::new(&app);
    browser.session = Some("planted-by-an-attacker".into());
    let response = browser.sign_in_as("ada", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/modules/cluster-architecture"
    );
    let cookie = set_cookie(&response, "lectern_session").unwrap();
    assert!(
        cookie.contains("; HttpOnly")
            && cookie.contains("; SameSite=Lax")
            && cookie.contains("; Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without --secure-cookies"
    );
    let token = cookie_value(&cookie);
    assert_ne!(token, "planted-by-an-attacker");
    assert!(token.len() >= 64, "256-bit random token");
    let page = browser.get("/modules/cluster-architecture").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains(
        "<span class=\"account-name\">ada <span class=\"account-role\">(learner)</span></span>"
    ));
    assert!(html.contains("<h1>Cluster architecture deep-dive</h1>"));

    let mut attacker = Browser::new(&app);
    attacker.session = Some("planted-by-an-attacker".into());
    assert_eq!(
        attacker.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "the planted id never became a session"
    );
}

#[tokio::test]
async fn secure_cookies_can_be_required_for_deployments_behind_tls() {
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.secure_cookies = true;
    })
    .await;
    app.add_account("ada", Role::Learner, None).await;
    let response = Browser::new(&app).sign_in_as("ada", PASSWORD).await;
    assert!(
        set_cookie(&response, "lectern_session")
            .unwrap()
            .ends_with("; Secure")
    );
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let app = portal_with_users().await;
    let wrong_password = Browser::new(&app)
        .sign_in_as("ada", "not the password")
        .await;
    let unknown_user = Browser::new(&app).sign_in_as("nobody", PASSWORD).await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    let message = "The user name or password is not right";
    let page = wrong_password.text().await.unwrap();
    assert!(page.contains(message));
    assert!(
        page.contains("type=\"password\" autocomplete=\"current-password\" required aria-describedby=\"sign-in-error\" aria-invalid=\"true\" autofocus>"),
        "the user name is kept, so the password field has the focus and says why: {page}"
    );
    assert!(unknown_user.text().await.unwrap().contains(message));
}

#[tokio::test]
async fn the_sign_in_form_must_come_from_this_site() {
    let app = portal_with_users().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = client
        .post(app.url("/sign-in"))
        .form(&[
            ("username", "ada"),
            ("password", PASSWORD),
            ("csrf", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "lectern_session").is_none());
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_even_with_the_right_password() {
    let app = portal_with_users().await;
    for _ in 0..auth::rate_limit::PER_ACCOUNT_AND_ADDRESS {
        assert_eq!(
            Browser::new(&app).sign_in_as("ada", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = Browser::new(&app).sign_in_as("ada", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    assert!(
        throttled
            .text()
            .await
            .unwrap()
            .contains("Too many failed password attempts from here; try again in 15 minutes")
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("grace", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "other accounts unaffected"
    );

    // The count is in the database: a restarted server (or another replica) keeps it.
    let (app, _dir) = app.restart(|c| c.portal = true).await;
    let still = Browser::new(&app).sign_in_as("ada", PASSWORD).await;
    assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = portal_with_users().await;
    let browser = signed_in(&app, "ada").await;
    let csrf = browser.csrf().await;
    assert_eq!(
        browser
            .post_form("/sign-out", &[("csrf", "wrong")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let out = browser.post_form("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&out, "lectern_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, replayed, no longer opens anything.
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
}

async fn last_seen_at(app: &TestApp) -> i64 {
    let (stamp,) = sqlx::query_as::<_, (String,)>("SELECT last_seen_at FROM sessions")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    lectern::clock::seconds_of_timestamp(&stamp)
}

fn unix_now() -> i64 {
    lectern::clock::unix_seconds()
}

/// Sets a time column of every session to `seconds` ago.
async fn set_session_time(app: &TestApp, column: &str, seconds: i64) {
    sqlx::query(&format!("UPDATE sessions SET {column} = $1"))
        .bind(lectern::clock::timestamp_of_seconds(unix_now() - seconds))
        .execute(&app.app.db)
        .await
        .unwrap();
}

async fn set_last_seen_seconds_ago(app: &TestApp, seconds: i64) {
    set_session_time(app, "last_seen_at", seconds).await;
}

#[tokio::test]
async fn idle_expiry_is_exact_to_within_a_few_seconds() {
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.session_idle_minutes = 10;
    })
    .await;
    app.add_account("ada", Role::Learner, None).await;
    let browser = signed_in(&app, "ada").await;
    // Used 30 s ago: a request now moves the idle timer to now, not 30 s back.
    set_last_seen_seconds_ago(&app, 30).await;
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    assert!(
        unix_now() - last_seen_at(&app).await <= 5,
        "the idle timer is at most 5 s stale"
    );
    // Idle for 9 min 57 s of 10 min: still signed in.
    set_last_seen_seconds_ago(&app, 597).await;
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    // Idle for 10 min 2 s: signed out.
    set_last_seen_seconds_ago(&app, 602).await;
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_sessions() {
    let app = portal_with_users().await;
    let mut browser = signed_in(&app, "ada").await;
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    set_last_seen_seconds_ago(&app, 13 * 3600).await;
    assert_eq!(
        browser.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "idle for 13 h > 12 h"
    );

    browser.sign_in_as("ada", PASSWORD).await;
    set_session_time(&app, "created_at", 8 * 24 * 3600).await;
    assert_eq!(
        browser.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "older than 7 days, though active"
    );
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM sessions")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "expired sessions are deleted");
}

#[tokio::test]
async fn learners_and_instructors_get_403_on_admin_pages() {
    let app = portal_with_users().await;
    for name in ["ada", "ines"] {
        let mut browser = Browser::new(&app);
        browser.sign_in_as(name, PASSWORD).await;
        assert_eq!(
            browser.get("/admin/users").await.status(),
            StatusCode::FORBIDDEN,
            "{name}"
        );
        let csrf = browser.csrf().await;
        let post = browser
            .post_form(
                "/admin/users",
                &[("csrf", &csrf), ("username", "mallory"), ("role", "admin")],
            )
            .await;
        assert_eq!(
            post.status(),
            StatusCode::FORBIDDEN,
            "{name} cannot create accounts"
        );
    }
    assert!(
        auth::accounts::list(&app.app.db)
            .await
            .unwrap()
            .iter()
            .all(|u| u.username != "mallory")
    );
}

#[tokio::test]
async fn admins_add_users_who_can_then_sign_in() {
    let app = portal_with_users().await;
    let admin = signed_in(&app, "root").await;
    let list = admin.get("/admin/users").await.text().await.unwrap();
    assert!(
        list.contains(
            ">ines</a></th><td>instructor</td><td></td><td data-sort=\"\">never</td><td>active</td>"
        ),
        "{list}"
    );
    let csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post_form("/admin/users", &[("username", "kim"), ("role", "learner")])
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no CSRF field"
    );
    assert_eq!(
        admin
            .post_form(
                "/admin/users",
                &[("csrf", "x"), ("username", "kim"), ("role", "learner")]
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let created = admin
        .post_form(
            "/admin/users",
            &[("csrf", &csrf), ("username", "kim"), ("role", "learner")],
        )
        .await
        .text()
        .await
        .unwrap();
    let password = created
        .split("<tr><td>kim</td><td><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("password shown once");
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("kim", password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let duplicate = admin
        .post_form(
            "/admin/users",
            &[("csrf", &csrf), ("username", "KIM"), ("role", "learner")],
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::BAD_REQUEST);
    assert!(
        duplicate
            .text()
            .await
            .unwrap()
            .contains("the user name <code>KIM</code> is already taken")
    );
}

#[tokio::test]
async fn learners_change_their_password_and_other_sessions_end() {
    let app = portal_with_users().await;
    let laptop = signed_in(&app, "ada").await;
    let phone = signed_in(&app, "ada").await;
    let csrf = laptop.csrf().await;
    let wrong = laptop
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "nope"),
                ("new", "a much better password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let weak = laptop
        .post_form(
            "/account/password",
            &[("csrf", &csrf), ("current", PASSWORD), ("new", "short")],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let missing_csrf = laptop
        .post_form(
            "/account/password",
            &[
                ("csrf", ""),
                ("current", PASSWORD),
                ("new", "a much better password"),
            ],
        )
        .await;
    assert_eq!(missing_csrf.status(), StatusCode::FORBIDDEN);
    let mistyped = laptop
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a much better password"),
                ("repeat", "a much better pasword"),
            ],
        )
        .await;
    assert_eq!(mistyped.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = mistyped.text().await.unwrap();
    assert!(page.contains("The two new passwords differ"), "{page}");
    assert!(
        page.contains("name=\"username\" autocomplete=\"username\" value=\"ada\""),
        "password managers learn whose password it is"
    );
    let ok = laptop
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a much better password"),
                ("repeat", "a much better password"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("Your password has been changed.")
    );
    assert_eq!(
        laptop.get("/").await.status(),
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        phone.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", "a much better password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_see_only_their_own_check_runs_and_checks_need_the_csrf_token() {
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
    })
    .await;
    for name in ["ada", "grace"] {
        app.add_account(name, Role::Learner, None).await;
    }
    let ada = signed_in(&app, "ada").await;
    let check = |browser: &Browser, token: Option<String>| {
        let mut request = browser
            .with_cookie(browser.client.post(app.url(&format!("{STEP4}/check"))))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_eq!(
        check(&ada, None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        check(&ada, Some("forged".into())).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let run: Value = check(&ada, Some(ada.csrf().await))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "failed");

    let grace = signed_in(&app, "grace").await;
    assert_eq!(
        grace.get(&format!("{STEP4}/runs/latest")).await.status(),
        StatusCode::NO_CONTENT,
        "grace does not see ada's run"
    );
    let own: Value = ada
        .get(&format!("{STEP4}/runs/latest"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["id"], run["id"]);
}

#[test]
fn the_first_admin_is_created_from_the_cli_with_a_piped_password() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(crate::common::fresh_database(dir.path()));
    let add = |name: &str, password: &str| {
        let mut child = lectern_cmd()
            .args(["user", "add", name, "--role", "admin", "--db"])
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let output = add("root", PASSWORD);
    assert_eq!(success_stdout(&output), "created admin `root`\n");
    let again = add("root", PASSWORD);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the user name `root` is already taken")
    );
    let weak = add("root2", "short");
    assert!(
        String::from_utf8_lossy(&weak.stderr)
            .contains("the new password is too weak: use at least 10 characters")
    );
    let stored: String = runtime.block_on(async {
        let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
        let (hash,): (String,) =
            sqlx::query_as("SELECT password_hash FROM accounts WHERE username = 'root'")
                .fetch_one(&pool)
                .await
                .unwrap();
        hash
    });
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASSWORD));
}

/// A sign-in POST as a browser behind a proxy sends it, with the proxy's `X-Forwarded-For`.
async fn sign_in_from(
    app: &TestApp,
    username: &str,
    password: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    Browser::new(app)
        .client
        .post(app.url("/sign-in"))
        .header("cookie", "lectern_sign_in=form-token")
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", "form-token"),
        ])
        .send()
        .await
        .unwrap()
}

async fn portal_behind_proxy(trusted: &[&str]) -> TestApp {
    let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.trusted_proxies = trusted;
    })
    .await;
    for (name, role) in [("ada", Role::Learner), ("root", Role::Admin)] {
        app.add_account(name, role, None).await;
    }
    app
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_guessing_address_does_not_lock_out_others() {
    let app = portal_behind_proxy(&["127.0.0.1/32"]).await;
    for i in 0..auth::rate_limit::PER_ADDRESS {
        let response = sign_in_from(&app, &format!("guess{i}"), "wrong", "203.0.113.66").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in_from(&app, "ada", PASSWORD, "203.0.113.66").await;
    assert_eq!(
        locked.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing address"
    );
    let other = sign_in_from(&app, "ada", PASSWORD, "198.51.100.7").await;
    assert_eq!(
        other.status(),
        StatusCode::SEE_OTHER,
        "another client behind the same proxy"
    );
}

#[tokio::test]
async fn knowing_a_user_name_does_not_lock_its_owner_out() {
    let app = portal_behind_proxy(&["127.0.0.1/32"]).await;
    for _ in 0..auth::rate_limit::PER_ACCOUNT_AND_ADDRESS + 3 {
        sign_in_from(&app, "root", "wrong", "203.0.113.66").await;
    }
    assert_eq!(
        sign_in_from(&app, "root", PASSWORD, "203.0.113.66")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&app, "root", PASSWORD, "198.51.100.7")
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "the admin, from their own address"
    );
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let app = portal_behind_proxy(&[]).await;
    for i in 0..auth::rate_limit::PER_ADDRESS {
        sign_in_from(
            &app,
            &format!("guess{i}"),
            "wrong",
            &format!("203.0.113.{i}"),
        )
        .await;
    }
    let spoofed = sign_in_from(&app, "ada", PASSWORD, "198.51.100.99").await;
    assert_eq!(
        spoofed.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up X-Forwarded-For does not escape the limit"
    );
}

#[tokio::test]
async fn the_current_password_check_is_throttled_like_sign_in() {
    let app = portal_with_users().await;
    let browser = signed_in(&app, "ada").await;
    let csrf = browser.csrf().await;
    let change = |current: &'static str| {
        let (browser, csrf) = (&browser, csrf.clone());
        async move {
            browser
                .post_form(
                    "/account/password",
                    &[
                        ("csrf", &csrf),
                        ("current", current),
                        ("new", "a much longer password"),
                    ],
                )
                .await
        }
    };
    for _ in 0..auth::rate_limit::PER_ACCOUNT_AND_ADDRESS {
        assert_eq!(
            change("wrong guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = change(PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    assert!(
        throttled
            .text()
            .await
            .unwrap()
            .contains("too many failed password attempts")
    );
    let mut again = Browser::new(&app);
    assert_eq!(
        again.sign_in_as("ada", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the same (account, address) counter as sign-in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_is_answered_and_does_not_stop_pages() {
    let app = portal_behind_proxy(&["127.0.0.1/32"]).await;
    let client = Browser::new(&app).client;
    let flood: Vec<_> = (0..150)
        .map(|i| {
            let (client, url) = (client.clone(), app.url("/sign-in"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("cookie", "lectern_sign_in=t")
                    .header("x-forwarded-for", format!("10.1.{}.{}", i / 200, i % 200))
                    .form(&[("username", "ada"), ("password", PASSWORD), ("csrf", "t")])
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let health = app
        .client
        .get(app.url("/sign-in"))
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await
        .expect("pages are served during the flood");
    assert_eq!(health.status(), StatusCode::OK);
    for request in flood {
        let response = request.await.unwrap();
        match response.status() {
            StatusCode::SEE_OTHER => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"));
                assert!(
                    response
                        .text()
                        .await
                        .unwrap()
                        .contains("busy checking passwords")
                );
            }
            other => panic!("a sign-in answered {other}"),
        }
    }
}
