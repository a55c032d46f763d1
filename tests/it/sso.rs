//! Single sign-on's refusals, against an OpenID provider double that can be made to misbehave:
//! each is a clear page for the person (never a 500) and no session.

use reqwest::StatusCode;

use crate::common::browser::{Browser, cookie_value, set_cookie};
use crate::common::oidc::{Mode, Person, ProviderDouble, secret_file, sso_config};
use crate::common::{PASSWORD, TestApp, lectern_cmd, success_stdout};
use lectern::auth::Role;

struct Portal {
    app: TestApp,
    double: ProviderDouble,
    _dir: tempfile::TempDir,
}

async fn portal(edit: impl FnOnce(&mut lectern::config::ServeArgs)) -> Portal {
    let double = ProviderDouble::start(Person::new("s-ada", "ada", &["cohort-spring"])).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let issuer = double.issuer.clone();
    let app = TestApp::spawn_with_config(|c| {
        sso_config(c, &issuer, secret);
        edit(c);
    })
    .await;
    Portal {
        app,
        double,
        _dir: dir,
    }
}

/// What the browser got back at the callback, and the callback URL (to replay it).
struct Outcome {
    response: reqwest::Response,
    callback: String,
    state_cookie: String,
}

/// Goes through the whole flow as a browser: Lectern → provider → Lectern's callback.
async fn sign_in(app: &TestApp) -> Outcome {
    let browser = Browser::new(app);
    let begun = browser.get("/sign-in/oidc?next=/my-work").await;
    assert_eq!(begun.status(), StatusCode::SEE_OTHER);
    let state_cookie = set_cookie(&begun, "lectern_sso").expect("the state cookie");
    assert!(state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"));
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "PKCE: {authorize}"
    );
    assert!(authorize.contains("nonce="));
    let at_provider = browser.client.get(&authorize).send().await.unwrap();
    assert_eq!(at_provider.status(), StatusCode::SEE_OTHER);
    let callback = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let state_cookie = cookie_value(&state_cookie);
    let response = browser
        .client
        .get(&callback)
        .header("cookie", format!("lectern_sso={state_cookie}"))
        .send()
        .await
        .unwrap();
    Outcome {
        response,
        callback,
        state_cookie,
    }
}

async fn refused(outcome: Outcome, status: StatusCode, says: &str) {
    assert_eq!(outcome.response.status(), status, "{says}");
    assert!(
        set_cookie(&outcome.response, "lectern_session").is_none(),
        "no session"
    );
    let page = outcome.response.text().await.unwrap();
    assert!(page.contains("<h1>Not signed in</h1>"), "{page}");
    assert!(page.contains(says), "{page}");
}

#[tokio::test]
async fn a_good_sign_in_starts_a_session_with_the_mapped_role_and_cohort() {
    let portal = portal(|_| {}).await;
    let outcome = sign_in(&portal.app).await;
    assert_eq!(outcome.response.status(), StatusCode::SEE_OTHER);
    assert_eq!(outcome.response.headers()["location"], "/my-work");
    let session = set_cookie(&outcome.response, "lectern_session").expect("a session");
    let mut browser = Browser::new(&portal.app);
    browser.session = Some(cookie_value(&session));
    let page = browser.get("/my-work").await.text().await.unwrap();
    assert!(page.contains("ada <span class=\"account-role\">(learner)</span>"));

    // The same identity again is the same account; new groups give a new role at once.
    portal
        .double
        .set_person(Person::new("s-ada", "ada-renamed", &["training-staff"]));
    let again = sign_in(&portal.app).await;
    assert_eq!(again.response.status(), StatusCode::SEE_OTHER);
    let accounts: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT username, role, cohort FROM accounts ORDER BY learner_id")
            .fetch_all(&portal.app.app.db)
            .await
            .unwrap();
    assert_eq!(
        accounts,
        [("ada".to_owned(), "instructor".to_owned(), None)],
        "linked by subject, not by name; the role follows the groups"
    );

    // Someone else whose preferred name is taken gets a free one.
    portal.double.set_person(Person::new("s-other", "ada", &[]));
    assert_eq!(
        sign_in(&portal.app).await.response.status(),
        StatusCode::SEE_OTHER
    );
    let (name,): (String,) = sqlx::query_as(
        "SELECT a.username FROM accounts a JOIN account_identities i ON i.learner_id = a.learner_id WHERE i.subject = 's-other'",
    )
    .fetch_one(&portal.app.app.db)
    .await
    .unwrap();
    assert_eq!(name, "ada-2");
}

#[tokio::test]
async fn a_state_is_used_once_and_only_by_the_browser_that_began() {
    let portal = portal(|_| {}).await;
    let outcome = sign_in(&portal.app).await;
    assert_eq!(outcome.response.status(), StatusCode::SEE_OTHER);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = client
        .get(&outcome.callback)
        .header("cookie", format!("lectern_sso={}", outcome.state_cookie))
        .send()
        .await
        .unwrap();
    let replayed = Outcome {
        response: replay,
        callback: String::new(),
        state_cookie: String::new(),
    };
    refused(
        replayed,
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired or was already used",
    )
    .await;

    // A callback carried to another browser (no state cookie) is refused too.
    let browser = Browser::new(&portal.app);
    let begun = browser.get("/sign-in/oidc").await;
    let authorize = begun.headers()["location"].to_str().unwrap().to_owned();
    let callback = browser.client.get(&authorize).send().await.unwrap();
    let callback = callback.headers()["location"].to_str().unwrap().to_owned();
    let elsewhere = client.get(&callback).send().await.unwrap();
    refused(
        Outcome {
            response: elsewhere,
            callback: String::new(),
            state_cookie: String::new(),
        },
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired or was already used",
    )
    .await;
}

#[tokio::test]
async fn untrustworthy_id_tokens_sign_nobody_in() {
    let portal = portal(|_| {}).await;
    for mode in [
        Mode::BadSignature,
        Mode::WrongAudience,
        Mode::Expired,
        Mode::WrongNonce,
        Mode::Unsigned,
        Mode::ForeignAuthorizedParty,
        Mode::Hmac,
    ] {
        portal.double.set_mode(mode);
        let outcome = sign_in(&portal.app).await;
        assert_eq!(
            outcome.response.status(),
            StatusCode::UNAUTHORIZED,
            "{mode:?}"
        );
        refused(
            outcome,
            StatusCode::UNAUTHORIZED,
            "The answer from the sign-in service could not be trusted",
        )
        .await;
    }
    let (accounts,): (i64,) = sqlx::query_as("SELECT count(*) FROM accounts")
        .fetch_one(&portal.app.app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 0);
}

#[tokio::test]
async fn rotated_keys_are_read_again() {
    let portal = portal(|_| {}).await;
    assert_eq!(
        sign_in(&portal.app).await.response.status(),
        StatusCode::SEE_OTHER
    );
    let reads = portal.double.jwks_reads();
    portal.double.rotate_keys();
    assert_eq!(
        sign_in(&portal.app).await.response.status(),
        StatusCode::SEE_OTHER,
        "signed with the new key"
    );
    assert!(
        portal.double.jwks_reads() > reads,
        "the JWKS was read again"
    );
}

#[tokio::test]
async fn a_missing_groups_claim_is_explained() {
    let portal = portal(|_| {}).await;
    portal.double.set_mode(Mode::NoGroups);
    refused(
        sign_in(&portal.app).await,
        StatusCode::FORBIDDEN,
        "The sign-in service did not say which groups you are in (no `groups` claim)",
    )
    .await;
}

#[tokio::test]
async fn without_just_in_time_accounts_only_linked_people_enter() {
    let portal = portal(|c| c.sso.create_accounts = false).await;
    refused(
        sign_in(&portal.app).await,
        StatusCode::UNAUTHORIZED,
        "there is no account for you here: ask an admin of this portal to add you",
    )
    .await;

    // An admin links the account on the command line; then it enters, as that account.
    let output = lectern_cmd()
        .args([
            "user",
            "add",
            "ada.lovelace",
            "--oidc-subject",
            "s-ada",
            "--oidc-issuer",
        ])
        .arg(&portal.double.issuer)
        .arg("--db")
        .arg(&portal.app.db)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        success_stdout(&output),
        "created learner `ada.lovelace`\nsigns in through the identity provider as subject `s-ada`\n"
    );
    let outcome = sign_in(&portal.app).await;
    assert_eq!(outcome.response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&outcome.response, "lectern_session").unwrap();
    let mut browser = Browser::new(&portal.app);
    browser.session = Some(cookie_value(&session));
    assert!(
        browser
            .get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("ada.lovelace <span class=\"account-role\">(learner)</span>")
    );
}

#[tokio::test]
async fn deactivated_accounts_and_other_domains_stay_out() {
    let portal = portal(|c| c.sso.allowed_domains = vec!["example.org".to_owned()]).await;
    assert_eq!(
        sign_in(&portal.app).await.response.status(),
        StatusCode::SEE_OTHER
    );
    sqlx::query("UPDATE accounts SET deactivated_at = 'now' WHERE username = 'ada'")
        .execute(&portal.app.app.db)
        .await
        .unwrap();
    refused(
        sign_in(&portal.app).await,
        StatusCode::UNAUTHORIZED,
        "This account is deactivated",
    )
    .await;

    let mut outsider = Person::new("s-mallory", "mallory", &[]);
    outsider.email = "mallory@elsewhere.example".to_owned();
    portal.double.set_person(outsider);
    refused(
        sign_in(&portal.app).await,
        StatusCode::FORBIDDEN,
        "Accounts of elsewhere.example cannot sign in to this portal",
    )
    .await;

    // An address the provider does not say it verified, or one with two `@`, names no domain.
    let mut unverified = Person::new("s-eve", "eve", &[]);
    unverified.email = "eve@example.org".to_owned();
    portal.double.set_person(unverified.clone());
    portal.double.set_mode(Mode::UnverifiedEmail);
    refused(
        sign_in(&portal.app).await,
        StatusCode::FORBIDDEN,
        "Accounts of e-mail addresses the sign-in service has not verified cannot sign in to this portal",
    )
    .await;
    portal.double.set_mode(Mode::Good);
    unverified.email = "eve@elsewhere.example@example.org".to_owned();
    portal.double.set_person(unverified);
    refused(
        sign_in(&portal.app).await,
        StatusCode::FORBIDDEN,
        "Accounts of no verified e-mail cannot sign in to this portal",
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_provider_is_a_page_not_a_500() {
    let closed = crate::common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let app = TestApp::spawn_with_config(|c| {
        sso_config(c, &format!("http://127.0.0.1:{closed}"), secret)
    })
    .await;
    let response = Browser::new(&app).get("/sign-in/oidc").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("The sign-in service (http://127.0.0.1:")
            && page.contains("cannot be reached right now"),
        "{page}"
    );
    // The sign-in page still works, and says how to sign in.
    let sign_in = Browser::new(&app)
        .get("/sign-in")
        .await
        .text()
        .await
        .unwrap();
    assert!(sign_in.contains("Sign in with Test IdP"));
}

#[tokio::test]
async fn with_break_glass_only_command_line_accounts_use_passwords() {
    let portal = portal(|_| {}).await;
    // `lectern user add` (the harness creates accounts that way) keeps its password.
    portal.app.add_account("root", Role::Admin, None).await;
    let mut root = Browser::new(&portal.app);
    assert_eq!(
        root.sign_in_as("root", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    // An account made on the Users page must use the provider.
    let csrf = root.csrf().await;
    let created = root
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
        .unwrap()
        .to_owned();
    let refused = Browser::new(&portal.app).sign_in_as("kim", &password).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("This portal signs you in through your organisation&#39;s sign-in")
    );
    let wrong = Browser::new(&portal.app)
        .sign_in_as("kim", "not the password")
        .await;
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("The user name or password is not right"),
        "a guesser learns nothing"
    );
}

#[tokio::test]
async fn admins_link_an_account_to_a_provider_identity_on_the_users_page() {
    let portal = portal(|c| c.sso.create_accounts = false).await;
    portal.app.add_account("root", Role::Admin, None).await;
    let mut root = Browser::new(&portal.app);
    root.sign_in_as("root", PASSWORD).await;
    let page = root.get("/admin/users").await.text().await.unwrap();
    assert!(page.contains("Single sign-on subject (empty: a password)"));
    let csrf = root.csrf().await;
    let added = root
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "ada"),
                ("role", "instructor"),
                ("cohort", ""),
                ("oidc_subject", "s-ada"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let added = added.text().await.unwrap();
    assert!(
        added.contains("Created instructor `ada`: they sign in through the identity provider as subject `s-ada`."),
        "{added}"
    );
    assert!(
        !added.contains("Their passwords are shown only now"),
        "no password"
    );
    let again = root
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "ada2"),
                ("role", "learner"),
                ("oidc_subject", "s-ada"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("another account is already linked to the identity <code>s-ada</code>")
    );
    // The groups (cohort-spring only) make ada a learner from her first sign-in on.
    let outcome = sign_in(&portal.app).await;
    assert_eq!(outcome.response.status(), StatusCode::SEE_OTHER);
    let (role,): (String,) = sqlx::query_as("SELECT role FROM accounts WHERE username = 'ada'")
        .fetch_one(&portal.app.app.db)
        .await
        .unwrap();
    assert_eq!(role, "learner");
}

#[tokio::test]
async fn without_group_mapping_an_admins_choice_of_role_and_cohort_stands() {
    let portal = portal(|c| {
        c.sso.admin_groups.clear();
        c.sso.instructor_groups.clear();
        c.sso.cohort_group_prefix = None;
        c.sso.create_accounts = false;
    })
    .await;
    let output = lectern_cmd()
        .args([
            "user",
            "add",
            "ada",
            "--role",
            "instructor",
            "--cohort",
            "blue",
        ])
        .args([
            "--oidc-subject",
            "s-ada",
            "--oidc-issuer",
            &portal.double.issuer,
        ])
        .arg("--db")
        .arg(&portal.app.db)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success());
    portal.double.set_mode(Mode::NoGroups);
    let outcome = sign_in(&portal.app).await;
    assert_eq!(
        outcome.response.status(),
        StatusCode::SEE_OTHER,
        "no groups needed when none are mapped"
    );
    let (role, cohort): (String, Option<String>) =
        sqlx::query_as("SELECT role, cohort FROM accounts WHERE username = 'ada'")
            .fetch_one(&portal.app.app.db)
            .await
            .unwrap();
    assert_eq!(
        (role.as_str(), cohort.as_deref()),
        ("instructor", Some("blue"))
    );
}
