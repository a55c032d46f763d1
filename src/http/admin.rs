//! Endpoints for admins: accounts (one at a time, or a cohort from CSV) and the clusters learners'
//! checks run against.

use super::filters;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::{Admin, CsrfForm, HasCsrf};
use super::{Error, Page};
use crate::app::AppState;
use crate::auth::{self, Role, password};
use crate::labs::{self, AssignError};

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    error: Option<&'a str>,
    created: &'a [(&'a str, &'a str)],
    csrf: &'a str,
    users: &'a [auth::User],
}

/// The users page, with what the last action did.
async fn users_page_with(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    error: Option<&str>,
    created: &[(&str, &str)],
) -> Result<Response, Error> {
    let users = auth::list_accounts(&app.db).await?;
    let page = UsersPage {
        error,
        created,
        csrf: &admin.session.csrf_token,
        users: &users,
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
    users_page_with(&app, &admin, StatusCode::OK, None, &[]).await
}

/// Form of `POST /admin/users`.
#[derive(Deserialize)]
pub(super) struct AddUser {
    csrf: String,
    username: String,
    role: String,
    #[serde(default)]
    cohort: String,
}

impl HasCsrf for AddUser {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/users`: creates an account with a generated password, shown once.
pub(super) async fn add_user(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<AddUser>,
) -> Result<Response, Error> {
    let generated = password::generate();
    let outcome = match Role::parse(&form.role) {
        Ok(role) => auth::create_account(
            &app.db,
            &app.passwords.hasher,
            form.username.trim(),
            role,
            &generated,
            Some(form.cohort.trim()),
        )
        .await
        .map_err(|e| match e {
            auth::AuthError::Database(e) => Error::from(e),
            other => Error::BadRequest(other.to_string()),
        }),
        Err(e) => Err(Error::BadRequest(e)),
    };
    match outcome {
        Ok(user) => {
            let created = [(user.username.as_str(), generated.as_str())];
            users_page_with(&app, &admin, StatusCode::OK, None, &created).await
        }
        Err(Error::BadRequest(e)) => {
            users_page_with(&app, &admin, StatusCode::BAD_REQUEST, Some(&e), &[]).await
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

impl HasCsrf for ImportUsers {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/users/import`: one account per CSV line `username,role,cohort`; every created
/// account's generated password is shown once, every bad line says why.
pub(super) async fn import_users(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<ImportUsers>,
) -> Result<Response, Error> {
    let imported = auth::import_accounts(&app.db, &app.passwords.hasher, &form.csv).await?;
    let error = (!imported.errors.is_empty()).then(|| imported.errors.join("; "));
    let created: Vec<(&str, &str)> = imported
        .created
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    let status = if error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    users_page_with(&app, &admin, status, error.as_deref(), &created).await
}

#[derive(Template)]
#[template(path = "admin_clusters.html")]
struct ClustersPage<'a> {
    error: Option<&'a str>,
    done: Option<&'a str>,
    csrf: &'a str,
    assignments: &'a [crate::labs::Assignment],
}

/// The clusters page, with what the last action did.
async fn clusters_page_with(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    error: Option<&str>,
    done: Option<&str>,
) -> Result<Response, Error> {
    let assignments = labs::assignments(&app.db).await?;
    let page = ClustersPage {
        error,
        done,
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
    clusters_page_with(&app, &admin, StatusCode::OK, None, None).await
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

impl HasCsrf for AssignCluster {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

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
        Ok(done) => clusters_page_with(&app, &admin, StatusCode::OK, None, Some(&done)).await,
        Err(AssignError::Invalid(e)) => {
            clusters_page_with(&app, &admin, StatusCode::BAD_REQUEST, Some(&e), None).await
        }
        Err(AssignError::Database(e)) => Err(e.into()),
    }
}
