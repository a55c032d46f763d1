//! The account lifecycle admins run: the list with cohort and last sign-in, password resets shown
//! once, role and cohort changes, deactivation that ends sessions at once, reactivation; in the
//! browser (over HTTP, authorization included) and from the command line.

use reqwest::StatusCode;

use crate::common::browser::{Browser, hidden, html, signed_in};
use crate::common::{PASSWORD, TestApp, lectern_cmd};
use lectern::auth::Role;

/// root (admin), ines (instructor), ada (learner, cohort blue).
async fn portal() -> TestApp {
    let app = TestApp::spawn_portal().await;
    app.add_account("root", Role::Admin, None).await;
    app.add_account("ines", Role::Instructor, None).await;
    app.add_account("ada", Role::Learner, Some("blue")).await;
    app
}

async fn id_of(app: &TestApp, name: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = $1")
        .bind(name)
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    id
}

/// Posts a form of the account page as the admin's browser does (CSRF from the page itself).
async fn act(admin: &Browser<'_>, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let page = html(admin, "/admin/users").await;
    let csrf = hidden(&page, "csrf");
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    admin.post_form(path, &fields).await
}

#[tokio::test]
async fn admins_see_everyone_with_cohort_and_last_sign_in() {
    let app = portal().await;
    let mut ada = Browser::new(&app);
    assert_eq!(
        ada.sign_in_as("ada", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let root = signed_in(&app, "root").await;
    let list = html(&root, "/admin/users").await;
    let ada_row = list
        .split(&format!(
            "<a href=\"/admin/users/{}\">ada</a>",
            id_of(&app, "ada").await
        ))
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .expect("ada is listed, linking to her account");
    assert!(
        ada_row.starts_with("</th><td>learner</td><td>blue</td><td data-sort=\"20"),
        "role, cohort, and a last sign-in: {ada_row}"
    );
    assert!(
        ada_row.ends_with("UTC</time></td><td>active</td>"),
        "{ada_row}"
    );
    let ines_row = list.split(">ines</a>").nth(1).unwrap();
    assert!(ines_row.starts_with("</th><td>instructor</td><td></td><td data-sort=\"\">never</td>"));
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = portal().await;
    let ada_id = id_of(&app, "ada").await;
    for name in ["ada", "ines"] {
        let mut someone = Browser::new(&app);
        someone.sign_in_as(name, PASSWORD).await;
        let csrf = someone.csrf().await;
        assert_eq!(
            someone
                .get(&format!("/admin/users/{ada_id}"))
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "{name}"
        );
        for action in ["password", "deactivate", "reactivate"] {
            let response = someone
                .post_form(
                    &format!("/admin/users/{ada_id}/{action}"),
                    &[("csrf", &csrf)],
                )
                .await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name} {action}");
        }
        let response = someone
            .post_form(
                &format!("/admin/users/{ada_id}"),
                &[("csrf", &csrf), ("role", "admin")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name} promotes");
    }
    let anonymous = Browser::new(&app);
    assert_eq!(
        anonymous
            .get(&format!("/admin/users/{ada_id}"))
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "to the sign-in page"
    );
    // Nothing changed.
    let mut ada = Browser::new(&app);
    assert_eq!(
        ada.sign_in_as("ada", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    // The admin's own forms need the CSRF token too.
    let root = signed_in(&app, "root").await;
    let forged = root
        .post_form(
            &format!("/admin/users/{ada_id}/deactivate"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        root.get("/admin/users/9999").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_reset_password_is_shown_once_and_ends_every_session() {
    let app = portal().await;
    let ada_id = id_of(&app, "ada").await;
    let ada = signed_in(&app, "ada").await;
    assert_eq!(ada.get("/my-work").await.status(), StatusCode::OK);

    let root = signed_in(&app, "root").await;
    let reset = act(&root, &format!("/admin/users/{ada_id}/password"), &[]).await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(
        reset.headers()["cache-control"],
        "private, no-store",
        "the password is not cached"
    );
    let page = reset.text().await.unwrap();
    let password = page
        .split("<code class=\"new-password\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the new password, shown once");
    assert_eq!(password.len(), 20);
    assert!(
        !html(&root, &format!("/admin/users/{ada_id}"))
            .await
            .contains(password),
        "and never again"
    );

    assert_eq!(
        ada.get("/my-work").await.status(),
        StatusCode::SEE_OTHER,
        "her session ended at once"
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn role_and_cohort_changes_apply_on_the_next_request() {
    let app = portal().await;
    let ada_id = id_of(&app, "ada").await;
    let ada = signed_in(&app, "ada").await;
    assert_eq!(
        ada.get("/instructor/grading").await.status(),
        StatusCode::FORBIDDEN
    );

    let root = signed_in(&app, "root").await;
    let path = format!("/admin/users/{ada_id}");
    let saved = act(
        &root,
        &path,
        &[("role", "instructor"), ("cohort", " green ")],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()["location"],
        format!("/admin/users/{ada_id}?done=updated").as_str()
    );
    let page = html(&root, &format!("{path}?done=updated")).await;
    assert!(page.contains("instructor · cohort green"), "{page}");
    assert!(page.contains("Saved. The new role applies from their next request."));
    assert_eq!(
        ada.get("/instructor/grading").await.status(),
        StatusCode::OK,
        "the same session, now an instructor"
    );

    let cleared = act(&root, &path, &[("role", "learner"), ("cohort", "")]).await;
    assert_eq!(cleared.status(), StatusCode::SEE_OTHER);
    let (cohort,): (Option<String>,) =
        sqlx::query_as("SELECT cohort FROM accounts WHERE learner_id = $1")
            .bind(ada_id)
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(cohort, None, "an empty cohort removes it");
    assert_eq!(
        ada.get("/instructor/grading").await.status(),
        StatusCode::FORBIDDEN
    );

    let bad = act(&root, &path, &[("role", "owner")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("unknown role `owner`"));
}

#[tokio::test]
async fn deactivation_ends_sessions_at_once_and_reactivation_lets_them_back() {
    let app = portal().await;
    let ada_id = id_of(&app, "ada").await;
    let ada = signed_in(&app, "ada").await;
    let root = signed_in(&app, "root").await;

    let done = act(&root, &format!("/admin/users/{ada_id}/deactivate"), &[]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ada.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "her session ended at once"
    );
    let refused = Browser::new(&app).sign_in_as("ada", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("This account is deactivated: ask an admin of this portal to reactivate it")
    );
    let wrong = Browser::new(&app)
        .sign_in_as("ada", "wrong password!")
        .await;
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("The user name or password is not right"),
        "a guesser learns nothing about the account"
    );
    let page = html(&root, &format!("/admin/users/{ada_id}?done=deactivated")).await;
    assert!(page.contains("<strong>deactivated</strong>"));
    assert!(page.contains("action=\"/admin/users/"), "{page}");
    assert!(page.contains("/reactivate\""));
    let list = html(&root, "/admin/users").await;
    assert!(list.contains("class=\"account-deactivated\""));

    let back = act(&root, &format!("/admin/users/{ada_id}/reactivate"), &[]).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "back in with her old password"
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = portal().await;
    let root_id = id_of(&app, "root").await;
    let root = signed_in(&app, "root").await;
    for (path, form) in [
        (format!("/admin/users/{root_id}"), vec![("role", "learner")]),
        (format!("/admin/users/{root_id}/deactivate"), vec![]),
    ] {
        let refused = act(&root, &path, &form).await;
        assert_eq!(refused.status(), StatusCode::CONFLICT, "{path}");
        let page = refused.text().await.unwrap();
        assert!(
            page.contains("<p class=\"form-error\" role=\"alert\">That would leave no active admin: make someone else an admin first</p>"),
            "said on the account page itself, not a bare Conflict page: {page}"
        );
        assert!(page.contains("<h1>root</h1>"), "{page}");
    }
    // With a second admin, the first may step down.
    let ines_id = id_of(&app, "ines").await;
    let promoted = act(
        &root,
        &format!("/admin/users/{ines_id}"),
        &[("role", "admin")],
    )
    .await;
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    let stepped_down = act(
        &root,
        &format!("/admin/users/{root_id}"),
        &[("role", "instructor")],
    )
    .await;
    assert_eq!(stepped_down.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        root.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN,
        "no longer an admin"
    );
}

fn lectern_user(args: &[&str], db: &str) -> (bool, String, String) {
    let output = lectern_cmd()
        .arg("user")
        .args(args)
        .arg("--db")
        .arg(db)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_runs_the_same_lifecycle() {
    let app = portal().await;
    let db = app.db.clone();
    let ada = signed_in(&app, "ada").await;

    // With nothing on standard input (`kubectl exec` without `-i`), a password is generated.
    let (ok, created, err) = lectern_user(&["add", "opal"], &db);
    assert!(ok, "{err}");
    assert!(created.contains("created learner `opal`"), "{created}");
    assert!(created.contains("password (shown only now): "), "{created}");

    let (ok, list, _) = lectern_user(&["list"], &db);
    assert!(ok);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("user"), "{list}");
    let ada_line = lines.iter().find(|l| l.starts_with("ada ")).unwrap();
    assert!(
        ada_line.contains(" learner ")
            && ada_line.contains(" blue ")
            && ada_line.ends_with("active"),
        "{ada_line}"
    );
    assert!(!ada_line.contains("never"), "she signed in: {ada_line}");

    let (ok, out, err) = lectern_user(&["set", "ada", "--cohort", "green"], &db);
    assert!(ok, "{err}");
    assert_eq!(out, "ada: learner, cohort green, active\n");
    let (ok, out, _) = lectern_user(&["set", "ada", "--role", "instructor"], &db);
    assert!(ok);
    assert_eq!(
        out, "ada: instructor, cohort green, active\n",
        "the cohort stays"
    );

    let (ok, out, _) = lectern_user(&["deactivate", "ada"], &db);
    assert!(ok);
    assert_eq!(
        out,
        "ada: instructor, cohort green, deactivated; their sessions have ended\n"
    );
    assert_eq!(ada.get("/").await.status(), StatusCode::SEE_OTHER);
    let (ok, _, _) = lectern_user(&["reactivate", "ada"], &db);
    assert!(ok);

    let (ok, out, _) = lectern_user(&["reset-password", "ada"], &db);
    assert!(ok);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown only now): "))
        .expect("the new password");
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let (ok, _, err) = lectern_user(&["deactivate", "root"], &db);
    assert!(!ok);
    assert_eq!(
        err,
        "error: that would leave no active admin: make someone else an admin first\n"
    );
    let (ok, _, err) = lectern_user(&["reset-password", "nobody"], &db);
    assert!(!ok);
    assert_eq!(err, "error: there is no account `nobody`\n");
}

/// Two admins deactivating each other at the same instant (on PostgreSQL, perhaps on two
/// replicas): one of them stays, whichever was second is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_deactivating_each_other_at_once_leave_one() {
    let app = TestApp::spawn_portal().await;
    app.add_account("root", Role::Admin, None).await;
    app.add_account("ines", Role::Admin, None).await;
    let ids: Vec<(i64,)> = sqlx::query_as(
        "SELECT learner_id FROM accounts WHERE username IN ('root', 'ines') ORDER BY username DESC",
    )
    .fetch_all(&app.app.db)
    .await
    .unwrap();
    let (root, ines) = (ids[0].0, ids[1].0);
    for _ in 0..5 {
        let (first, second) = tokio::join!(
            lectern::auth::accounts::deactivate(&app.app.db, root),
            lectern::auth::accounts::deactivate(&app.app.db, ines),
        );
        assert!(
            first.is_ok() != second.is_ok(),
            "exactly one of them goes: {first:?} {second:?}"
        );
        let (active,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM accounts WHERE role = 'admin' AND deactivated_at IS NULL",
        )
        .fetch_one(&app.app.db)
        .await
        .unwrap();
        assert_eq!(active, 1);
        for admin in [root, ines] {
            lectern::auth::accounts::reactivate(&app.app.db, admin)
                .await
                .unwrap();
        }
    }
}
