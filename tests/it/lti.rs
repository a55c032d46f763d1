//! LTI 1.3 launches against a platform double: registration by an admin, login initiation, the
//! signed launch, roles and course to account and cohort, and each rejection.

use reqwest::StatusCode;

use crate::common::browser::{Browser, cookie_value, set_cookie, signed_in};
use crate::common::lti::{Launch, PlatformDouble, register, register_as};
use crate::common::{PASSWORD, TestApp};
use lectern::auth::Role;

async fn registered() -> (TestApp, PlatformDouble) {
    let platform = PlatformDouble::start().await;
    let app = TestApp::spawn_portal().await;
    let done = register(&app, &platform).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Registered Moodle."));
    let root = signed_in(&app, "root").await;
    let again = register_as(&root, &platform).await;
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "registered already"
    );
    let page = root.get("/admin/lti").await.text().await.unwrap();
    assert!(
        page.contains(&format!("<code>{}/lti/login</code>", app.url(""))),
        "the values to paste into the platform: {page}"
    );
    (app, platform)
}

/// The platform's login initiation; answers the state and nonce of the authentication request.
async fn initiate(app: &TestApp, platform: &PlatformDouble) -> (String, String) {
    let browser = Browser::new(app);
    let response = browser
        .post_form(
            "/lti/login",
            &[
                ("iss", &platform.issuer),
                ("login_hint", "user-17"),
                ("target_link_uri", &app.url("/modules/cluster-architecture")),
                ("lti_message_hint", "hint-9"),
                ("client_id", crate::common::lti::TOOL_CLIENT_ID),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/auth");
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "id_token");
    assert_eq!(query["response_mode"], "form_post");
    assert_eq!(query["prompt"], "none");
    assert_eq!(query["login_hint"], "user-17");
    assert_eq!(query["lti_message_hint"], "hint-9");
    assert_eq!(query["redirect_uri"], app.url("/lti/launch"));
    let state = query["state"].clone();
    // The browser keeps the state, for the launch only, and also inside the platform's iframe.
    let kept = set_cookie(&response, &lectern::lti::state_cookie_name(&state))
        .expect("the login's state cookie");
    assert_eq!(cookie_value(&kept), state);
    for attribute in [
        "Path=/lti/launch",
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Partitioned",
    ] {
        assert!(kept.contains(attribute), "{attribute}: {kept}");
    }
    (state, query["nonce"].clone())
}

/// The `Cookie` header of the browser that began the login with `state`.
fn state_cookie(state: &str) -> String {
    format!("{}={state}", lectern::lti::state_cookie_name(state))
}

/// Posts a launch from the browser that began its login (with its state cookie).
async fn post_launch(app: &TestApp, id_token: &str, state: &str) -> reqwest::Response {
    Browser::new(app)
        .client
        .post(app.url("/lti/launch"))
        .header("cookie", state_cookie(state))
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_launch_signs_the_person_in_on_the_linked_module_with_role_and_cohort() {
    let (app, platform) = registered().await;
    let (state, nonce) = initiate(&app, &platform).await;
    let launch = Launch::learner("sub-jo", "jo", &app.url("/modules/cluster-architecture"));
    let response = post_launch(&app, &launch.id_token(&platform, &nonce), &state).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/modules/cluster-architecture"
    );
    let session = set_cookie(&response, "lectern_session").expect("a session");
    let mut jo = Browser::new(&app);
    jo.session = Some(cookie_value(&session));
    let page = jo
        .get("/modules/cluster-architecture")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("jo <span class=\"account-role\">(learner)</span>"));
    let (cohort,): (Option<String>,) =
        sqlx::query_as("SELECT cohort FROM accounts WHERE username = 'jo'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(
        cohort.as_deref(),
        Some("NET-101"),
        "the course is the cohort"
    );

    // The same state again is a replay.
    let replay = post_launch(&app, &launch.id_token(&platform, &nonce), &state).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains("This launch has expired or was already used")
    );

    // A teacher of the course arrives as an instructor.
    let (state, nonce) = initiate(&app, &platform).await;
    let mut teacher = Launch::learner("sub-ms-k", "ms-k", &app.url("/"));
    teacher.roles = vec!["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor".to_owned()];
    let response = post_launch(&app, &teacher.id_token(&platform, &nonce), &state).await;
    assert_eq!(response.headers()["location"], "/");
    let (role,): (String,) = sqlx::query_as("SELECT role FROM accounts WHERE username = 'ms-k'")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(role, "instructor");
}

/// Launches `launch` with its form posted from a page at `origin` (the `Origin` header browsers
/// send); answers the response and the session token it set.
async fn launch_from(
    app: &TestApp,
    platform: &PlatformDouble,
    launch: &Launch,
    origin: Option<&str>,
) -> (reqwest::Response, String) {
    let (state, nonce) = initiate(app, platform).await;
    let id_token = launch.id_token(platform, &nonce);
    let mut request = Browser::new(app)
        .client
        .post(app.url("/lti/launch"))
        .header("cookie", state_cookie(&state))
        .form(&[("id_token", id_token.as_str()), ("state", &state)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&response, "lectern_session").expect("a session");
    let token = cookie_value(&cookie);
    (response, token)
}

/// The `frame-ancestors` directive and `X-Frame-Options` of a page, as `session` sees it.
async fn framing(app: &TestApp, session: Option<String>, path: &str) -> (String, Option<String>) {
    let mut browser = Browser::new(app);
    browser.session = session;
    let response = browser.get(path).await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let ancestors = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("frame-ancestors"))
        .expect("a frame-ancestors directive")
        .to_owned();
    let xfo = response
        .headers()
        .get("x-frame-options")
        .map(|v| v.to_str().unwrap().to_owned());
    (ancestors, xfo)
}

#[tokio::test]
async fn launched_sessions_may_be_framed_by_their_platform_and_nothing_else_may() {
    let (app, platform) = registered().await;
    let target = app.url("/modules/cluster-architecture");
    // The school's domain posted the launch (as Canvas does: its issuer is another domain).
    let school = platform.issuer.replace("127.0.0.1", "localhost");
    let (response, token) = launch_from(
        &app,
        &platform,
        &Launch::learner("sub-jo", "jo", &target),
        Some(&school),
    )
    .await;
    let cookie = set_cookie(&response, "lectern_session").unwrap();
    assert!(
        cookie.contains("; HttpOnly; SameSite=None; Secure; Partitioned"),
        "a cookie the browser sends inside the platform's iframe: {cookie}"
    );
    for path in ["/modules/cluster-architecture", "/my-work", "/no-such-page"] {
        let (ancestors, xfo) = framing(&app, Some(token.clone()), path).await;
        assert_eq!(
            ancestors,
            format!("frame-ancestors {} {school}", platform.issuer),
            "{path}: the platform's origins (issuer and authorization URL are one here)"
        );
        assert_eq!(xfo, None, "{path}: X-Frame-Options cannot name an origin");
    }

    // An Origin that is not a web origin adds nothing; neither does plain http elsewhere.
    for origin in ["null", "http://school.example", "file:///tmp/x"] {
        let (_, token) = launch_from(
            &app,
            &platform,
            &Launch::learner("sub-jo", "jo", &target),
            Some(origin),
        )
        .await;
        let (ancestors, _) = framing(&app, Some(token), "/my-work").await;
        assert_eq!(
            ancestors,
            format!("frame-ancestors {}", platform.issuer),
            "{origin}"
        );
    }

    // Everything else keeps refusing frames: anonymous pages and password sessions.
    assert_eq!(
        framing(&app, None, "/sign-in").await,
        ("frame-ancestors 'none'".to_owned(), Some("DENY".to_owned()))
    );
    app.add_account("ana", Role::Learner, None).await;
    let mut ana = Browser::new(&app);
    let signed_in = ana.sign_in_as("ana", PASSWORD).await;
    let cookie = set_cookie(&signed_in, "lectern_session").unwrap();
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("Partitioned"),
        "{cookie}"
    );
    assert_eq!(
        framing(&app, ana.session.clone(), "/my-work").await,
        ("frame-ancestors 'none'".to_owned(), Some("DENY".to_owned()))
    );

    // Signing out inside the frame deletes the partitioned cookie (only a partitioned deletion can).
    let mut jo = Browser::new(&app);
    jo.session = Some(token);
    let csrf = jo.csrf().await;
    let out = jo.post_form("/sign-out", &[("csrf", &csrf)]).await;
    let deletion = set_cookie(&out, "lectern_session").unwrap();
    assert!(
        deletion.contains("Max-Age=0") && deletion.contains("Partitioned"),
        "{deletion}"
    );
}

#[tokio::test]
async fn untrustworthy_launches_sign_nobody_in() {
    let (app, platform) = registered().await;
    let target = app.url("/modules/cluster-architecture");
    let base = Launch::learner("sub-eve", "eve", &target);
    let cases: Vec<(&str, Launch)> = vec![
        (
            "forged signature",
            Launch {
                forged: true,
                ..base.clone()
            },
        ),
        (
            "another audience",
            Launch {
                audience: "someone-else".into(),
                ..base.clone()
            },
        ),
        (
            "expired",
            Launch {
                expires_in: -60,
                ..base.clone()
            },
        ),
        (
            "unknown deployment",
            Launch {
                deployment: "deployment-9".into(),
                ..base.clone()
            },
        ),
        (
            "LTI 1.1",
            Launch {
                version: "1.1".into(),
                ..base.clone()
            },
        ),
        (
            "not a resource link",
            Launch {
                message_type: "LtiDeepLinkingRequest".into(),
                ..base.clone()
            },
        ),
        (
            "issued to another client (azp)",
            Launch {
                authorized_party: Some("someone-else".into()),
                ..base.clone()
            },
        ),
        (
            "several audiences and no azp",
            Launch {
                other_audience: Some("someone-else".into()),
                ..base.clone()
            },
        ),
    ];
    for (what, launch) in cases {
        let (state, nonce) = initiate(&app, &platform).await;
        let response = post_launch(&app, &launch.id_token(&platform, &nonce), &state).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(set_cookie(&response, "lectern_session").is_none(), "{what}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("The launch from your course could not be trusted"),
            "{what}"
        );
    }
    // A launch posted by a browser that did not begin its login: an attacker's own launch, posted
    // by the victim's browser, would sign the victim into the attacker's account.
    let (state, nonce) = initiate(&app, &platform).await;
    let (other_state, _) = initiate(&app, &platform).await;
    let id_token = Launch::learner("sub-ann", "ann", &target).id_token(&platform, &nonce);
    for cookie in [
        None,
        Some(state_cookie(&other_state)),
        Some(format!("{}=x", lectern::lti::state_cookie_name(&state))),
    ] {
        let mut request = Browser::new(&app)
            .client
            .post(app.url("/lti/launch"))
            .form(&[("id_token", id_token.as_str()), ("state", &state)]);
        if let Some(cookie) = &cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cookie:?}");
        assert!(set_cookie(&response, "lectern_session").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("This launch was not begun in this browser")
        );
    }
    // An `azp` naming Lectern is what it should be.
    let (ok_state, ok_nonce) = initiate(&app, &platform).await;
    let shared = Launch {
        authorized_party: Some(crate::common::lti::TOOL_CLIENT_ID.into()),
        ..Launch::learner("sub-sam", "sam", &target)
    };
    let response = post_launch(&app, &shared.id_token(&platform, &ok_nonce), &ok_state).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "azp names Lectern"
    );
    // The browser that began it still can; its state cookie is then removed.
    let response = post_launch(&app, &id_token, &state).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let removed = set_cookie(&response, &lectern::lti::state_cookie_name(&state)).unwrap();
    assert!(removed.contains("Max-Age=0"), "{removed}");

    // Another launch's nonce.
    let (state, _) = initiate(&app, &platform).await;
    let response = post_launch(&app, &base.id_token(&platform, "another-nonce"), &state).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (accounts,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM accounts WHERE username = 'eve'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(accounts, 0);
}

#[tokio::test]
async fn unknown_platforms_and_bad_registrations_are_explained() {
    let (app, _platform) = registered().await;
    let unknown = Browser::new(&app)
        .post_form(
            "/lti/login",
            &[
                ("iss", "https://lms.elsewhere.example"),
                ("login_hint", "x"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.text().await.unwrap().contains(
        "This learning platform (https://lms.elsewhere.example) is not registered with Lectern"
    ));

    let root = signed_in(&app, "root").await;
    let csrf = root.csrf().await;
    let plain = root
        .post_form(
            "/admin/lti",
            &[
                ("csrf", csrf.as_str()),
                ("name", "Canvas"),
                ("issuer", "http://canvas.example.org"),
                ("client_id", "10000000000001"),
                (
                    "auth_url",
                    "https://canvas.example.org/api/lti/authorize_redirect",
                ),
                ("token_url", "https://canvas.example.org/login/oauth2/token"),
                (
                    "jwks_url",
                    "https://canvas.example.org/api/lti/security/jwks",
                ),
                ("deployment_ids", "1:abc"),
            ],
        )
        .await;
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    assert!(
        plain
            .text()
            .await
            .unwrap()
            .contains("the issuer must be an https:// URL (http:// only on this machine)")
    );
    app.add_account("ada", Role::Learner, None).await;
    let learner = signed_in(&app, "ada").await;
    assert_eq!(
        learner.get("/admin/lti").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn lecterns_keys_are_published_and_rotated() {
    let app = TestApp::spawn_portal().await;
    let first: serde_json::Value = app.get("/lti/jwks").await.json().await.unwrap();
    let keys = first["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{first}");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0]["n"].as_str().unwrap().len() > 300, "RSA 2048");
    assert!(keys[0].get("d").is_none(), "only the public half");
    let kid = keys[0]["kid"].as_str().unwrap().to_owned();
    let again: serde_json::Value = app.get("/lti/jwks").await.json().await.unwrap();
    assert_eq!(again, first, "the same key until it is due");

    // Due for rotation: a new key signs, the old one stays published a while.
    let day = 24 * 3600;
    let days_ago = |days: i64| {
        lectern::clock::timestamp_of_seconds(lectern::clock::unix_seconds() - days * day)
    };
    sqlx::query("UPDATE lti_tool_keys SET created_at = $1")
        .bind(days_ago(91))
        .execute(&app.app.db)
        .await
        .unwrap();
    let rotated: serde_json::Value = app.get("/lti/jwks").await.json().await.unwrap();
    let kids: Vec<&str> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], kid, "the retired key is still published");
    sqlx::query("UPDATE lti_tool_keys SET created_at = $1 WHERE kid = $2")
        .bind(days_ago(91 + 40))
        .bind(&kid)
        .execute(&app.app.db)
        .await
        .unwrap();
    let later: serde_json::Value = app.get("/lti/jwks").await.json().await.unwrap();
    assert_eq!(
        later["keys"].as_array().unwrap().len(),
        1,
        "and then withdrawn"
    );
    assert_ne!(later["keys"][0]["kid"], kid.as_str());
}

/// Waits until the platform has received `n` scores; answers the latest.
async fn nth_score(platform: &PlatformDouble, n: usize) -> serde_json::Value {
    nth_score_on(platform, 1, n).await
}

/// The first score line item `item` receives for `user`, once it arrives.
async fn score_from(platform: &PlatformDouble, item: usize, user: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let scores = platform.scores_on(item);
        if let Some(score) = scores.iter().find(|s| s["userId"] == user) {
            return score.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no score for {user} reached line item {item}; got {scores:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The `n`th score line item `item` receives, once it arrives.
async fn nth_score_on(platform: &PlatformDouble, item: usize, n: usize) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let scores = platform.scores_on(item);
        if scores.len() >= n {
            return scores[n - 1].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "score {n} never reached line item {item}; got {scores:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_reach_the_line_item_as_they_change_and_grades_only_once_released() {
    use crate::common::browser::{hidden, html};
    use crate::common::grading::{post_grade, queue_ids, release, submit};
    let (app, platform) = registered().await;
    platform.trust_tool(&app.url("/lti/jwks"));
    app.add_account("ines", Role::Instructor, None).await;

    // jo launches module 01 from a graded activity.
    let (state, nonce) = initiate(&app, &platform).await;
    let mut launch = Launch::learner("sub-jo", "jo", &app.url("/modules/cluster-architecture"));
    launch.lineitem = Some(platform.lineitem());
    let response = post_launch(&app, &launch.id_token(&platform, &nonce), &state).await;
    let mut jo = Browser::new(&app);
    jo.session = Some(cookie_value(
        &set_cookie(&response, "lectern_session").unwrap(),
    ));

    let first = nth_score(&platform, 1).await;
    assert_eq!(first["userId"], "sub-jo");
    assert_eq!(first["scoreGiven"], 0);
    let maximum = first["scoreMaximum"].as_u64().unwrap();
    assert!(
        maximum > 11,
        "11 checked steps and the questions' points: {first}"
    );
    assert_eq!(first["activityProgress"], "InProgress");
    assert_eq!(first["gradingProgress"], "Pending");
    assert!(
        first["comment"]
            .as_str()
            .unwrap()
            .starts_with("Lab: 0 of 11 steps passed.")
    );

    // A choice question graded at once: a new score.
    let (status, answer) = submit(
        &jo,
        "who-talks-to-etcd",
        serde_json::json!({ "choices": [0], "submit": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let points = answer["score"].as_u64().unwrap();
    assert!(points > 0);
    let second = nth_score(&platform, 2).await;
    assert_eq!(second["scoreGiven"].as_u64(), Some(points));

    // A written answer graded but not released: nothing reaches the platform.
    submit(
        &jo,
        "api-server-role",
        serde_json::json!({ "text": "It authenticates, authorizes, admits.", "submit": true }),
    )
    .await;
    let ines = crate::common::browser::signed_in(&app, "ines").await;
    let id = queue_ids(&html(&ines, "/instructor/grading").await)[0].clone();
    let page = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
    assert!(hidden(&page, "csrf").len() > 10);
    let graded = post_grade(&ines, &id, &page, &["3", "2", "1", "1"], "Good.").await;
    assert_eq!(graded.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(platform.scores().len(), 2, "not before release");

    // Released: the score with the grade.
    assert_eq!(
        release(&ines, Some("api-server-role")).await.status(),
        StatusCode::SEE_OTHER
    );
    let third = nth_score(&platform, 3).await;
    assert_eq!(third["scoreGiven"].as_u64(), Some(points + 7));

    // The platform is down: the score waits, admins see it, and it arrives once it is back.
    platform.set_down(true);
    submit(
        &jo,
        "watchers",
        serde_json::json!({ "choices": [0, 1], "submit": true }),
    )
    .await;
    let root = signed_in(&app, "root").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let page = html(&root, "/admin/lti").await;
        if page.contains("class=\"passback-failing\"") {
            assert!(page.contains(">jo</th><td>1</td>"), "{page}");
            assert!(
                page.contains("Moodle answered 503 Service Unavailable to the score"),
                "{page}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failure is never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    platform.set_down(false);
    let csrf = root.csrf().await;
    let retried = root.post_form("/admin/lti/retry", &[("csrf", &csrf)]).await;
    assert_eq!(retried.status(), StatusCode::OK);
    let fourth = nth_score(&platform, 4).await;
    assert_eq!(fourth["userId"], "sub-jo");
    assert!(
        html(&root, "/admin/lti")
            .await
            .contains("Every score has reached its platform.")
    );

    // A regrade after release sends the new score.
    let page = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
    let regraded = post_grade(&ines, &id, &page, &["3", "4", "2", "1"], "Better.").await;
    assert_eq!(regraded.status(), StatusCode::SEE_OTHER);
    let fifth = nth_score(&platform, 5).await;
    assert_eq!(
        fifth["scoreGiven"].as_u64().unwrap() - fourth["scoreGiven"].as_u64().unwrap(),
        3,
        "7 → 10 points"
    );
    assert_eq!(
        platform.tokens_issued(),
        1,
        "one access token, kept until it expires, for every score"
    );

    // A token the platform revoked fails once, and the next try asks for a new one.
    platform.revoke_tokens();
    let page = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
    let regraded = post_grade(&ines, &id, &page, &["3", "4", "2", "0"], "Hm.").await;
    assert_eq!(regraded.status(), StatusCode::SEE_OTHER);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !html(&root, "/admin/lti")
        .await
        .contains("Moodle answered 401 Unauthorized to the score")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the refusal is never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let csrf = root.csrf().await;
    root.post_form("/admin/lti/retry", &[("csrf", &csrf)]).await;
    let sixth = nth_score(&platform, 6).await;
    assert_eq!(sixth["userId"], "sub-jo");
    assert_eq!(platform.tokens_issued(), 2);
}

/// Launches module 01 for `who` with the course's line-item container and a column per question
/// asked (or, with `grant` false, asked but without the line-item scope); answers their browser.
async fn launch_per_question<'a>(
    app: &'a TestApp,
    platform: &PlatformDouble,
    who: &str,
    grant: bool,
) -> Browser<'a> {
    let (state, nonce) = initiate(app, platform).await;
    let mut launch = Launch::learner(
        &format!("sub-{who}"),
        who,
        &app.url("/modules/cluster-architecture"),
    );
    launch.lineitem = Some(platform.lineitem());
    launch.lineitems = grant.then(|| platform.lineitems());
    launch.custom = serde_json::json!({ "lectern_grades": "per-question" });
    let response = post_launch(app, &launch.id_token(platform, &nonce), &state).await;
    let mut browser = Browser::new(app);
    browser.session = Some(cookie_value(
        &set_cookie(&response, "lectern_session").unwrap(),
    ));
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_asks_gets_a_grade_column_per_question_with_the_instructors_comment() {
    use crate::common::browser::{hidden, html};
    use crate::common::grading::{post_grade, queue_ids, release, submit};
    let (app, platform) = registered().await;
    platform.trust_tool(&app.url("/lti/jwks"));
    app.add_account("ines", Role::Instructor, None).await;
    let jo = launch_per_question(&app, &platform, "jo", true).await;
    nth_score(&platform, 1).await;
    assert!(
        platform.made_lineitems().is_empty(),
        "no column before an answer"
    );

    // A choice question: its column is made under the resource link, and gets the score.
    let (_, answer) = submit(
        &jo,
        "who-talks-to-etcd",
        serde_json::json!({ "choices": [0], "submit": true }),
    )
    .await;
    let points = answer["score"].as_u64().unwrap();
    let choice = nth_score_on(&platform, 2, 1).await;
    let made = platform.made_lineitems();
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(
        made[0]["resourceId"],
        "cluster-architecture/who-talks-to-etcd"
    );
    assert_eq!(made[0]["resourceLinkId"], "link-7");
    assert_eq!(made[0]["scoreMaximum"].as_u64(), Some(points));
    let label = made[0]["label"].as_str().unwrap();
    assert!(label.starts_with("Cluster architecture"), "{label}");
    assert!(label.contains(" · Q"), "{label}");
    assert_eq!(choice["userId"], "sub-jo");
    assert_eq!(choice["scoreGiven"].as_u64(), Some(points));
    assert_eq!(choice["gradingProgress"], "FullyGraded");

    // A written answer: its column waits for the instructor, with no score.
    submit(
        &jo,
        "api-server-role",
        serde_json::json!({ "text": "It authenticates, authorizes, admits.", "submit": true }),
    )
    .await;
    let waiting = nth_score_on(&platform, 3, 1).await;
    assert_eq!(
        platform.made_lineitems()[1]["resourceId"],
        "cluster-architecture/api-server-role"
    );
    assert_eq!(waiting["gradingProgress"], "PendingManual");
    assert!(waiting.get("scoreGiven").is_none(), "{waiting}");

    // Graded: nothing before release; then the score and the instructor's comment.
    let ines = crate::common::browser::signed_in(&app, "ines").await;
    let id = queue_ids(&html(&ines, "/instructor/grading").await)[0].clone();
    let page = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
    assert!(hidden(&page, "csrf").len() > 10);
    post_grade(
        &ines,
        &id,
        &page,
        &["3", "2", "1", "1"],
        "Name the admission phases.",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(platform.scores_on(3).len(), 1, "not before release");
    release(&ines, Some("api-server-role")).await;
    let graded = nth_score_on(&platform, 3, 2).await;
    assert_eq!(graded["scoreGiven"], 7);
    assert_eq!(graded["comment"], "Name the admission phases.");
    assert_eq!(graded["gradingProgress"], "FullyGraded");

    // Another learner of the same link: the same columns. A server that lost what it made (a
    // restored backup, another replica) finds them at the platform instead of making more.
    let al = launch_per_question(&app, &platform, "al", true).await;
    sqlx::query("DELETE FROM lti_question_lineitems")
        .execute(&app.app.db)
        .await
        .unwrap();
    submit(
        &al,
        "who-talks-to-etcd",
        serde_json::json!({ "choices": [1], "submit": true }),
    )
    .await;
    let al_choice = score_from(&platform, 2, "sub-al").await;
    assert!(al_choice["scoreGiven"].is_number(), "{al_choice}");
    assert_eq!(platform.made_lineitems().len(), 2, "no column twice");

    // A platform that does not grant the line-item scope gets the module's score only.
    let bo = launch_per_question(&app, &platform, "bo", false).await;
    submit(
        &bo,
        "who-talks-to-etcd",
        serde_json::json!({ "choices": [0], "submit": true }),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !platform
        .scores()
        .iter()
        .any(|s| s["userId"] == "sub-bo" && s["scoreGiven"].as_u64() == Some(points))
    {
        assert!(std::time::Instant::now() < deadline, "bo's module score");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (columns,): (Option<String>,) = sqlx::query_as(
        "SELECT lineitems FROM lti_grade_links JOIN accounts USING (learner_id) WHERE username = 'bo'",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!(columns, None, "bo's link has no columns per question");
    assert_eq!(platform.made_lineitems().len(), 2);
    assert!(
        platform
            .scores_on(2)
            .iter()
            .all(|s| s["userId"] != "sub-bo"),
        "no column for bo"
    );
}

#[tokio::test]
async fn instructors_pick_a_module_when_adding_the_activity() {
    use crate::common::browser::{hidden, html};
    use crate::common::lti::{TOOL_CLIENT_ID, verified_by_tool};
    let (app, platform) = registered().await;
    let return_url = format!("{}/deep-link-return", platform.issuer);
    let mut request = Launch::learner("sub-ms-k", "ms-k", &app.url("/"));
    request.message_type = "LtiDeepLinkingRequest".to_owned();
    request.deep_link_return = Some(return_url.clone());

    // Learners cannot add activities.
    let (state, nonce) = initiate(&app, &platform).await;
    let refused = post_launch(&app, &request.id_token(&platform, &nonce), &state).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    request.roles = vec!["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor".to_owned()];
    let (state, nonce) = initiate(&app, &platform).await;
    let response = post_launch(&app, &request.id_token(&platform, &nonce), &state).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let chooser = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(chooser.starts_with("/lti/deep-link/"), "{chooser}");
    let mut teacher = Browser::new(&app);
    teacher.session = Some(cookie_value(
        &set_cookie(&response, "lectern_session").unwrap(),
    ));
    let page = html(&teacher, &chooser).await;
    assert!(page.contains("value=\"cluster-architecture\""), "{page}");
    assert!(page.contains("name=\"per_question\""), "{page}");

    let answer = teacher
        .post_form(
            &chooser,
            &[
                ("csrf", &hidden(&page, "csrf")),
                ("module", "cluster-architecture"),
                ("per_question", "on"),
            ],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {}", platform.issuer)),
        "this page alone may post to the platform: {csp}"
    );
    let page = answer.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{return_url}\"")), "{page}");
    let jwt = hidden(&page, "JWT");
    let claims = verified_by_tool(&jwt, &app.url("/lti/jwks"))
        .await
        .expect("signed by a key Lectern publishes");
    assert_eq!(claims["iss"], TOOL_CLIENT_ID);
    assert_eq!(claims["aud"], platform.issuer.as_str());
    assert_eq!(
        claims["https://purl.imsglobal.org/spec/lti/claim/message_type"],
        "LtiDeepLinkingResponse"
    );
    assert_eq!(
        claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"],
        crate::common::lti::DEPLOYMENT
    );
    assert_eq!(
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"],
        "opaque-42"
    );
    let item = &claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0];
    assert_eq!(item["type"], "ltiResourceLink");
    assert_eq!(
        item["url"],
        app.url("/modules/cluster-architecture").as_str()
    );
    assert!(item["lineItem"]["scoreMaximum"].as_u64().unwrap() > 11);
    assert_eq!(
        item["custom"],
        serde_json::json!({ "lectern_grades": "per-question" }),
        "launches of the link will ask for a column per question"
    );

    // Answered once.
    let again = teacher
        .post_form(
            &chooser,
            &[
                ("csrf", &hidden(&page, "csrf")),
                ("module", "cluster-architecture"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_scores_survive_a_restart() {
    use crate::common::grading::submit;
    let (app, platform) = registered().await;
    platform.trust_tool(&app.url("/lti/jwks"));
    let (state, nonce) = initiate(&app, &platform).await;
    let mut launch = Launch::learner("sub-jo", "jo", &app.url("/modules/cluster-architecture"));
    launch.lineitem = Some(platform.lineitem());
    let response = post_launch(&app, &launch.id_token(&platform, &nonce), &state).await;
    let session = cookie_value(&set_cookie(&response, "lectern_session").unwrap());
    nth_score(&platform, 1).await;

    // The platform is down when jo's score changes: it waits in the queue.
    platform.set_down(true);
    let points = {
        let mut jo = Browser::new(&app);
        jo.session = Some(session);
        let (_, answer) = submit(
            &jo,
            "who-talks-to-etcd",
            serde_json::json!({ "choices": [0], "submit": true }),
        )
        .await;
        answer["score"].as_u64().unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let failed: Option<(i64,)> =
            sqlx::query_as("SELECT attempts FROM lti_score_outbox WHERE attempts > 0")
                .fetch_optional(&app.app.db)
                .await
                .unwrap();
        if failed.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the post never failed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Lectern restarts on the same database; the platform is back.
    let (app, _dir) = app.restart(|c| c.portal = true).await;
    platform.trust_tool(&app.url("/lti/jwks"));
    platform.set_down(false);
    let root = signed_in(&app, "root").await;
    let csrf = root.csrf().await;
    root.post_form("/admin/lti/retry", &[("csrf", &csrf)]).await;
    let after = nth_score(&platform, 2).await;
    assert_eq!(after["userId"], "sub-jo");
    assert_eq!(
        after["scoreGiven"].as_u64(),
        Some(points),
        "the queued score, sent by the new process"
    );
}

#[tokio::test]
async fn anonymous_logins_are_throttled_before_they_write_a_row() {
    let (app, platform) = registered().await;
    let browser = Browser::new(&app);
    let mut throttled = 0;
    for _ in 0..80 {
        let response = browser
            .post_form(
                "/lti/login",
                &[("iss", platform.issuer.as_str()), ("login_hint", "user-17")],
            )
            .await;
        match response.status() {
            StatusCode::SEE_OTHER => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                throttled += 1;
            }
            other => panic!("a login answered {other}"),
        }
    }
    assert!(throttled >= 15, "{throttled} of 80 throttled");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM lti_launches")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert!(rows <= 65, "{rows} logins kept");
}

/// The learner id of the account `username`.
async fn learner_id(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("SELECT learner_id FROM accounts WHERE username = $1")
        .bind(username)
        .fetch_one(&app.app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_lti_instructor_follows_and_grades_the_learners_of_their_course_only() {
    use crate::common::browser::html;
    use crate::common::grading::{QUESTIONS, post_grade, queue_ids, release};
    let (app, platform) = registered().await;
    app.add_account("bo", Role::Learner, Some("blue")).await;
    app.add_account("ines", Role::Instructor, None).await;
    let (_, jo_token) = launch_from(
        &app,
        &platform,
        &Launch::learner("sub-jo", "jo", &app.url("/modules/cluster-architecture")),
        None,
    )
    .await;
    let mut teacher = Launch::learner("sub-teach", "teach", &app.url("/"));
    teacher.roles = vec!["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor".to_owned()];
    let (_, teacher_token) = launch_from(&app, &platform, &teacher, None).await;
    let mut jo = Browser::new(&app);
    jo.session = Some(jo_token);
    let mut teach = Browser::new(&app);
    teach.session = Some(teacher_token);
    let bo = signed_in(&app, "bo").await;
    let ines = signed_in(&app, "ines").await;
    for learner in [&jo, &bo] {
        let answer = learner
            .post_json(
                &format!("{QUESTIONS}/api-server-role/answer"),
                r#"{"text": "The API server is the only door to etcd.", "submit": true}"#,
            )
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let (jo_id, bo_id) = (learner_id(&app, "jo").await, learner_id(&app, "bo").await);

    // The cohort table, the picture and the gradebook hold NET-101's learners, whatever is asked.
    for path in ["/instructor/cohort", "/instructor/cohort?cohort=blue"] {
        let page = html(&teach, path).await;
        assert!(
            !page.contains(&format!("/instructor/learners/{bo_id}\"")),
            "{path}: another course's learner: {page}"
        );
        assert!(!page.contains(">blue<"), "{path}: another course's cohort");
    }
    let page = html(&teach, "/instructor/cohort").await;
    assert!(page.contains(&format!("/instructor/learners/{jo_id}\"")));
    // The staff home counts and lists NET-101's only.
    let home = html(&teach, "/").await;
    assert!(home.contains("<strong>1</strong> answer waiting"), "{home}");
    assert!(
        home.contains(">jo: Q8") && !home.contains(">bo: Q8"),
        "{home}"
    );
    assert!(
        home.contains(">NET-101</a>") && !home.contains(">blue</a>"),
        "{home}"
    );
    let csv = html(&teach, "/instructor/gradebook.csv").await;
    assert!(csv.contains("jo,NET-101") && !csv.contains("bo,"), "{csv}");
    let csv = html(&teach, "/instructor/gradebook.csv?cohort=blue").await;
    assert!(!csv.contains("bo,"), "{csv}");
    let stuck = html(&teach, "/instructor/stuck?cohort=blue").await;
    assert!(stuck.contains("Cohort blue (0 learners)"), "{stuck}");
    assert_eq!(
        teach
            .get(&format!("/instructor/learners/{bo_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        teach
            .get(&format!("/instructor/learners/{jo_id}"))
            .await
            .status(),
        StatusCode::OK
    );

    // Grading: jo's answer only; bo's is not found, to read or to grade; releases reach every
    // cohort, so they are for instructors of the whole portal.
    let queue = queue_ids(&html(&ines, "/instructor/grading").await);
    assert_eq!(queue.len(), 2, "a portal instructor sees both answers");
    let theirs = queue_ids(&html(&teach, "/instructor/grading").await);
    assert_eq!(theirs.len(), 1);
    let bo_answer = queue.iter().find(|id| **id != theirs[0]).unwrap();
    let path = format!("/instructor/grading/answers/{bo_answer}");
    assert_eq!(teach.get(&path).await.status(), StatusCode::NOT_FOUND);
    let ines_page = html(&ines, &path).await;
    let ines_csrf = crate::common::browser::hidden(&ines_page, "csrf");
    let as_teacher = ines_page.replace(&ines_csrf, &teach.csrf().await);
    let graded = post_grade(&teach, bo_answer, &as_teacher, &["2", "2", "1"], "").await;
    assert_eq!(graded.status(), StatusCode::NOT_FOUND);
    let queue_page = html(&teach, "/instructor/grading").await;
    assert!(
        queue_page.contains("Ask an admin to release"),
        "{queue_page}"
    );
    let released = release(&teach, Some("api-server-role")).await;
    assert_eq!(released.status(), StatusCode::FORBIDDEN);
    let own = format!("/instructor/grading/answers/{}", theirs[0]);
    assert_eq!(teach.get(&own).await.status(), StatusCode::OK);

    // The same person launched from a second course teaches both.
    teacher.context = ("course-7".to_owned(), "blue".to_owned());
    let (_, token) = launch_from(&app, &platform, &teacher, None).await;
    teach.session = Some(token);
    assert_eq!(
        queue_ids(&html(&teach, "/instructor/grading").await).len(),
        2
    );
    assert_eq!(
        teach
            .get(&format!("/instructor/learners/{bo_id}"))
            .await
            .status(),
        StatusCode::OK
    );
}

/// An admin registers a second platform with `platform`'s issuer and another client id (as
/// Canvas cloud's schools share one issuer).
async fn register_sharing_the_issuer(app: &TestApp, platform: &PlatformDouble) {
    let mut root = Browser::new(app);
    root.sign_in_as("root", PASSWORD).await;
    let mut form: Vec<(&str, String)> = vec![("csrf", root.csrf().await)];
    for (name, value) in platform.registration() {
        let value = match name {
            "name" => "Other school".to_owned(),
            "client_id" => OTHER_CLIENT.to_owned(),
            _ => value,
        };
        form.push((name, value));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let registered = root.post_form("/admin/lti", &form).await;
    assert_eq!(registered.status(), StatusCode::OK);
}

/// The client id of the second registration.
const OTHER_CLIENT: &str = "other-client";

/// Launches `launch` through the registration with `client_id`; answers the session token.
async fn launch_through(
    app: &TestApp,
    platform: &PlatformDouble,
    client_id: &str,
    launch: &Launch,
) -> String {
    let login = Browser::new(app)
        .post_form(
            "/lti/login",
            &[
                ("iss", platform.issuer.as_str()),
                ("login_hint", "x"),
                ("client_id", client_id),
            ],
        )
        .await;
    let location = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    let mut launch = launch.clone();
    launch.audience = client_id.to_owned();
    let id_token = launch.id_token(platform, &query["nonce"]);
    let launched = post_launch(app, &id_token, &query["state"]).await;
    assert_eq!(launched.status(), StatusCode::SEE_OTHER);
    cookie_value(&set_cookie(&launched, "lectern_session").expect("a session"))
}

/// The learner ids linked to `subject`, whatever registration.
async fn accounts_of(app: &TestApp, subject: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT DISTINCT learner_id FROM account_identities WHERE subject = $1 ORDER BY learner_id",
    )
    .bind(subject)
    .fetch_all(&app.app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn platforms_sharing_an_issuer_never_sign_in_as_each_others_people() {
    let (app, platform) = registered().await;
    let tool = crate::common::lti::TOOL_CLIENT_ID;
    launch_through(&app, &platform, tool, &Launch::learner("sub-1", "jo", "/")).await;
    register_sharing_the_issuer(&app, &platform).await;
    launch_through(
        &app,
        &platform,
        OTHER_CLIENT,
        &Launch::learner("sub-1", "mallory", "/"),
    )
    .await;
    assert_eq!(
        accounts_of(&app, "sub-1").await.len(),
        2,
        "the same subject at another registration is another person"
    );
    let jo = learner_id(&app, "jo").await;
    assert_eq!(accounts_of(&app, "sub-1").await[0], jo);
    // Each keeps their own account on their next launch.
    launch_through(&app, &platform, tool, &Launch::learner("sub-1", "jo", "/")).await;
    launch_through(
        &app,
        &platform,
        OTHER_CLIENT,
        &Launch::learner("sub-1", "x", "/"),
    )
    .await;
    assert_eq!(accounts_of(&app, "sub-1").await.len(), 2);
}

#[tokio::test]
async fn an_identity_linked_by_issuer_alone_is_kept_only_while_one_platform_has_that_issuer() {
    let (app, platform) = registered().await;
    let tool = crate::common::lti::TOOL_CLIENT_ID;
    // Accounts linked before identities named their registration and deployment.
    for subject in ["sub-old", "sub-older"] {
        launch_through(
            &app,
            &platform,
            tool,
            &Launch::learner(subject, subject, "/"),
        )
        .await;
    }
    sqlx::query("UPDATE account_identities SET client_id = '', deployment_id = ''")
        .execute(&app.app.db)
        .await
        .unwrap();
    let old = learner_id(&app, "sub-old").await;
    launch_through(
        &app,
        &platform,
        tool,
        &Launch::learner("sub-old", "again", "/"),
    )
    .await;
    assert_eq!(
        accounts_of(&app, "sub-old").await,
        vec![old],
        "the same account"
    );
    let keyed: (String, String) = sqlx::query_as(
        "SELECT client_id, deployment_id FROM account_identities WHERE subject = 'sub-old' AND client_id <> ''",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!(
        keyed,
        (tool.to_owned(), crate::common::lti::DEPLOYMENT.to_owned())
    );

    // With two platforms on the issuer, either could be claiming the other's people: an identity
    // linked by issuer alone is adopted by neither.
    register_sharing_the_issuer(&app, &platform).await;
    let older = learner_id(&app, "sub-older").await;
    launch_through(
        &app,
        &platform,
        OTHER_CLIENT,
        &Launch::learner("sub-older", "m", "/"),
    )
    .await;
    launch_through(
        &app,
        &platform,
        tool,
        &Launch::learner("sub-older", "n", "/"),
    )
    .await;
    let linked = accounts_of(&app, "sub-older").await;
    assert_eq!(linked.len(), 3, "{linked:?}");
    assert_eq!(linked[0], older, "the old row stays as it was");
}
