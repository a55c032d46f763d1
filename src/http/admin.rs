//! Endpoints for admins: accounts (one at a time, or a cohort from CSV; then password resets, role
//! and cohort changes, deactivation) and the clusters learners' checks run against.

use super::filters;
use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{Admin, CsrfForm, CsrfOnly, csrf_field};
use super::{Error, Page};
use crate::app::AppState;
use crate::auth::Account;
use crate::auth::accounts;
use crate::auth::{self, Role, password};
use crate::labs::{self, AssignError};

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    /// Single sign-on is on: accounts may be linked to a provider identity.
    sso: bool,
    import_errors: &'a [String],
    created: &'a [(&'a str, &'a str)],
    credentials_csv: String,
    failed_lines: String,
    csrf: &'a str,
    accounts: &'a [Account],
}

/// What the last action on the users page did, to show with the list.
#[derive(Default)]
struct UsersOutcome<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    import_errors: &'a [String],
    created: &'a [(&'a str, &'a str)],
    failed_lines: &'a [String],
}

/// The users page, with what the last action did.
async fn users_page_with(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    outcome: UsersOutcome<'_>,
) -> Result<Response, Error> {
    let accounts = accounts::list(&app.db).await?;
    let page = UsersPage {
        error: outcome.error,
        notice: outcome.notice,
        sso: app.sso.is_some(),
        import_errors: outcome.import_errors,
        created: outcome.created,
        credentials_csv: accounts::credentials_csv(outcome.created),
        failed_lines: outcome.failed_lines.join("\n"),
        csrf: &admin.session.csrf_token,
        accounts: &accounts,
    };
    Ok(Page::new(app, "Users", &page, Some(&admin.visitor))
        .with_status(status)
        .into_response())
}

/// `GET /admin/users`.
pub(super) async fn users_page(
    State(app): State<AppState>,
    admin: Admin,
) -> Result<Response, Error> {
    users_page_with(&app, &admin, StatusCode::OK, UsersOutcome::default()).await
}

/// Form of `POST /admin/users`.
#[derive(Deserialize)]
pub(super) struct AddUser {
    csrf: String,
    username: String,
    role: String,
    #[serde(default)]
    cohort: String,
    /// With single sign-on: the person's subject at the provider; the account then has no
    /// password and is entered through the provider.
    #[serde(default)]
    oidc_subject: String,
}

csrf_field!(AddUser);

/// `POST /admin/users`: creates an account with a generated password, shown once; or, given a
/// single sign-on subject, one linked to that identity at the provider.
pub(super) async fn add_user(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<AddUser>,
) -> Result<Response, Error> {
    let generated = password::generate();
    let (username, cohort) = (form.username.trim(), Some(form.cohort.trim()));
    let subject = form.oidc_subject.trim();
    let outcome = match (Role::parse(&form.role), &app.sso) {
        (Err(e), _) => Err(Error::BadRequest(e)),
        (Ok(role), Some(sso)) if !subject.is_empty() => auth::identity::create_linked_account(
            &app.db,
            &app.passwords.hasher,
            username,
            role,
            cohort,
            &auth::IdentityKey::single_sign_on(sso.issuer(), subject),
        )
        .await
        .map(|user| (user, false))
        .map_err(Error::from),
        (Ok(role), _) => auth::create_account(
            &app.db,
            &app.passwords.hasher,
            username,
            role,
            &generated,
            cohort,
            auth::Origin::Admin,
        )
        .await
        .map(|user| (user, true))
        .map_err(Error::from),
    };
    match outcome {
        Ok((user, true)) => {
            let created = [(user.username.as_str(), generated.as_str())];
            let outcome = UsersOutcome {
                created: &created,
                ..UsersOutcome::default()
            };
            users_page_with(&app, &admin, StatusCode::OK, outcome).await
        }
        Ok((user, false)) => {
            let notice = format!(
                "Created {} `{}`: they sign in through the identity provider as subject `{subject}`.",
                user.role.as_str(),
                user.username
            );
            let outcome = UsersOutcome {
                notice: Some(&notice),
                ..UsersOutcome::default()
            };
            users_page_with(&app, &admin, StatusCode::OK, outcome).await
        }
        Err(Error::BadRequest(e) | Error::Conflict(e)) => {
            let outcome = UsersOutcome {
                error: Some(&e),
                ..UsersOutcome::default()
            };
            users_page_with(&app, &admin, StatusCode::BAD_REQUEST, outcome).await
        }
        Err(e) => Err(e),
    }
}

/// Form of `POST /admin/users/import`.
#[derive(Deserialize)]
pub(super) struct ImportUsers {
    csrf: String,
    csv: String,
}

csrf_field!(ImportUsers);

/// `POST /admin/users/import`: one account per CSV line `username,role,cohort`; every created
/// account's generated password is shown once (and offered as one CSV download), every bad line
/// says why and comes back in the form to correct.
pub(super) async fn import_users(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<ImportUsers>,
) -> Result<Response, Error> {
    let imported = auth::import_accounts(&app.db, &app.passwords.hasher, &form.csv).await?;
    let created: Vec<(&str, &str)> = imported
        .created
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    // A partial import is a success with lines to correct (the new accounts exist); only an
    // import that created nothing is refused.
    let status = if imported.errors.is_empty() || !created.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let outcome = UsersOutcome {
        import_errors: &imported.errors,
        created: &created,
        failed_lines: &imported.failed_lines,
        ..UsersOutcome::default()
    };
    users_page_with(&app, &admin, status, outcome).await
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct AccountPage<'a> {
    account: &'a Account,
    notice: Option<&'a str>,
    /// Why the last change was refused (the last admin cannot stop being one).
    error: Option<&'a str>,
    new_password: Option<&'a str>,
    csrf: &'a str,
}

/// Query of `GET /admin/users/{id}`: what the last change did.
#[derive(Deserialize)]
pub(super) struct AccountQuery {
    #[serde(default)]
    done: String,
}

/// One account's page, with what the last action did (or why it was refused, with `status`).
async fn account_page_with(
    app: &AppState,
    admin: &Admin,
    account: &Account,
    status: StatusCode,
    outcome: AccountOutcome<'_>,
) -> Result<Response, Error> {
    let page = AccountPage {
        account,
        notice: outcome.notice,
        error: outcome.error,
        new_password: outcome.new_password,
        csrf: &admin.session.csrf_token,
    };
    Ok(
        Page::new(app, &account.username, &page, Some(&admin.visitor))
            .with_status(status)
            .into_response(),
    )
}

/// What the account page says about the last action: each part optional.
#[derive(Default)]
struct AccountOutcome<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    new_password: Option<&'a str>,
}

/// The account page again, answered 409, saying why a change was refused: the last active admin
/// may not lose the role or be deactivated, and is told so where they tried.
async fn refused_on_account_page(
    app: &AppState,
    admin: &Admin,
    id: i64,
    error: &auth::AuthError,
) -> Result<Response, Error> {
    let account = accounts::find(&app.db, id).await?;
    let sentence = super::as_sentence(&error.to_string());
    let outcome = AccountOutcome {
        error: Some(&sentence),
        ..AccountOutcome::default()
    };
    account_page_with(app, admin, &account, StatusCode::CONFLICT, outcome).await
}

/// `GET /admin/users/{id}`: one account, and what an admin can do to it.
pub(super) async fn account_page(
    State(app): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(query): Query<AccountQuery>,
) -> Result<Response, Error> {
    let account = accounts::find(&app.db, id).await?;
    let notice = match query.done.as_str() {
        "updated" => Some("Saved. The new role applies from their next request."),
        "deactivated" => Some(
            "Deactivated: their sessions have ended and they cannot sign in. Their work is kept.",
        ),
        "reactivated" => Some("Reactivated: they can sign in again with their password."),
        _ => None,
    };
    let outcome = AccountOutcome {
        notice,
        ..AccountOutcome::default()
    };
    account_page_with(&app, &admin, &account, StatusCode::OK, outcome).await
}

/// Form of `POST /admin/users/{id}`.
#[derive(Deserialize)]
pub(super) struct UpdateAccount {
    csrf: String,
    role: String,
    #[serde(default)]
    cohort: String,
}

csrf_field!(UpdateAccount);

/// `POST /admin/users/{id}`: changes role and cohort.
pub(super) async fn update_account(
    State(app): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<UpdateAccount>,
) -> Result<Response, Error> {
    let role = Role::parse(&form.role).map_err(Error::BadRequest)?;
    match accounts::update(&app.db, id, role, Some(&form.cohort)).await {
        Err(e @ auth::AuthError::LastAdmin) => {
            return refused_on_account_page(&app, &admin, id, &e).await;
        }
        other => other?,
    };
    Ok(Redirect::to(&format!("/admin/users/{id}?done=updated")).into_response())
}

/// `POST /admin/users/{id}/password`: a new generated password, shown once; their sessions end.
pub(super) async fn reset_password(
    State(app): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    let generated = accounts::reset_password(&app.db, &app.passwords.hasher, id).await?;
    let account = accounts::find(&app.db, id).await?;
    let outcome = AccountOutcome {
        new_password: Some(&generated),
        ..AccountOutcome::default()
    };
    account_page_with(&app, &admin, &account, StatusCode::OK, outcome).await
}

/// `POST /admin/users/{id}/deactivate`: no more sign-in, sessions end at once.
pub(super) async fn deactivate(
    State(app): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    match accounts::deactivate(&app.db, id).await {
        Err(e @ auth::AuthError::LastAdmin) => {
            return refused_on_account_page(&app, &admin, id, &e).await;
        }
        other => other?,
    };
    crate::bridge::disconnect(
        &app.reach.bridges,
        id,
        "this account was deactivated on the portal",
    )
    .await;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=deactivated")).into_response())
}

/// `POST /admin/users/{id}/reactivate`.
pub(super) async fn reactivate(
    State(app): State<AppState>,
    _admin: Admin,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    accounts::reactivate(&app.db, id).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=reactivated")).into_response())
}

#[derive(Template)]
#[template(path = "admin_clusters.html")]
struct ClustersPage<'a> {
    /// What the admin typed, given back after an error so nothing is lost.
    form: Option<&'a AssignCluster>,
    error: Option<&'a str>,
    done: Option<&'a str>,
    /// Write grants (or why none could be looked for) of the kubeconfig just assigned.
    warnings: &'a [String],
    csrf: &'a str,
    assignments: &'a [crate::labs::Assignment],
    /// Learners' user names and the cohorts in use, offered as the form is typed.
    learners: Vec<String>,
    cohorts: Vec<String>,
}

/// The clusters page, with what the last action did.
async fn clusters_page_with(
    app: &AppState,
    admin: &Admin,
    form: Option<&AssignCluster>,
    status: StatusCode,
    error: Option<&str>,
    done: Option<(&str, &[String])>,
) -> Result<Response, Error> {
    let assignments = labs::assignments(&app.db).await?;
    let accounts = accounts::list(&app.db).await?;
    let learners = accounts
        .iter()
        .filter(|a| a.role == Role::Learner && a.is_active())
        .map(|a| a.username.clone())
        .collect();
    let mut cohorts: Vec<String> = accounts.into_iter().filter_map(|a| a.cohort).collect();
    cohorts.sort_unstable();
    cohorts.dedup();
    let page = ClustersPage {
        learners,
        cohorts,
        form,
        error,
        done: done.map(|(message, _)| message),
        warnings: done.map_or(&[], |(_, warnings)| warnings),
        csrf: &admin.session.csrf_token,
        assignments: &assignments,
    };
    Ok(Page::new(app, "Clusters", &page, Some(&admin.visitor))
        .with_status(status)
        .into_response())
}

/// `GET /admin/clusters`.
pub(super) async fn clusters_page(
    State(app): State<AppState>,
    admin: Admin,
) -> Result<Response, Error> {
    clusters_page_with(&app, &admin, None, StatusCode::OK, None, None).await
}

/// `POST /admin/clusters/{learner}/unassign`: takes one learner's assigned cluster away.
pub(super) async fn unassign_cluster(
    State(app): State<AppState>,
    admin: Admin,
    Path(learner): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    match labs::unassign_cluster(&app.db, learner).await {
        Ok(done) => {
            clusters_page_with(&app, &admin, None, StatusCode::OK, None, Some((&done, &[]))).await
        }
        Err(AssignError::Database(e)) => Err(e.into()),
        Err(e) => {
            let message = e.to_string();
            clusters_page_with(
                &app,
                &admin,
                None,
                StatusCode::CONFLICT,
                Some(&message),
                None,
            )
            .await
        }
    }
}

/// `POST /admin/clusters/{learner}/test`: asks one learner's assigned cluster for its version, as
/// their checks would reach it, and says what it answered.
pub(super) async fn test_cluster(
    State(app): State<AppState>,
    admin: Admin,
    Path(learner): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    let tested = labs::test_assignments(&app.db, Some(learner)).await?;
    let name = labs::assignments(&app.db)
        .await?
        .into_iter()
        .find(|a| a.learner_id == learner)
        .map(|a| a.username);
    match (tested.first(), name) {
        (Some(answer), Some(name)) if answer.reachable => {
            let done = format!("{name}'s cluster answers: {}.", answer.summary);
            clusters_page_with(&app, &admin, None, StatusCode::OK, None, Some((&done, &[]))).await
        }
        (Some(answer), Some(name)) => {
            let error = format!(
                "{name}'s cluster does not answer, so their checks cannot run: {}",
                answer.summary
            );
            clusters_page_with(&app, &admin, None, StatusCode::OK, Some(&error), None).await
        }
        _ => {
            clusters_page_with(
                &app,
                &admin,
                None,
                StatusCode::NOT_FOUND,
                Some("that learner has no assigned cluster (the page may be out of date)"),
                None,
            )
            .await
        }
    }
}

/// `GET /api/admin/clusters/reachability`: whether each assigned cluster answers, for the Clusters
/// page's column (filled in after the page has loaded, as the clusters take their time).
pub(super) async fn clusters_reachability(
    State(app): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<labs::Reachability>>, Error> {
    Ok(Json(labs::test_assignments(&app.db, None).await?))
}

/// Form of `POST /admin/clusters`.
#[derive(Deserialize)]
pub(super) struct AssignCluster {
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    cohort: String,
    kubeconfig: String,
    #[serde(default)]
    context: String,
}

csrf_field!(AssignCluster);

fn non_empty(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

/// `POST /admin/clusters`: stores a kubeconfig for a learner or a cohort, after checking it.
pub(super) async fn assign_cluster(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<AssignCluster>,
) -> Result<Response, Error> {
    let outcome = labs::assign_cluster(
        &app.db,
        non_empty(&form.username),
        non_empty(&form.cohort),
        &form.kubeconfig,
        non_empty(&form.context),
    )
    .await;
    match outcome {
        Ok(done) => {
            clusters_page_with(
                &app,
                &admin,
                None,
                StatusCode::OK,
                None,
                Some((&done.message, &done.warnings)),
            )
            .await
        }
        Err(e @ (AssignError::Invalid(_) | AssignError::Kubeconfig(_))) => {
            let message = e.to_string();
            clusters_page_with(
                &app,
                &admin,
                Some(&form),
                StatusCode::BAD_REQUEST,
                Some(&message),
                None,
            )
            .await
        }
        Err(AssignError::Database(e)) => Err(e.into()),
    }
}
