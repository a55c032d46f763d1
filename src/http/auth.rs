//! Endpoints for signing in and out, changing one's password, and managing users (admins).

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::client_addr::ClientAddr;
use super::session::{SESSION_COOKIE, Visitor, cookie, set_cookie};
use super::{Error, render_page};
use crate::app::AppState;
use crate::auth::{self, AuthError, Role, password};

/// Ties the sign-in form to this browser (login CSRF): the form's hidden field must equal this cookie.
const SIGN_IN_COOKIE: &str = "lectern_sign_in";

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInForm<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordForm<'a> {
    error: Option<&'a str>,
    done: bool,
    csrf: &'a str,
    min_length: usize,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    error: Option<&'a str>,
    created: &'a [(&'a str, &'a str)],
    csrf: &'a str,
    users: &'a [auth::User],
}

/// Only same-site paths: an open redirect would let a link send people anywhere after sign-in.
/// Browsers drop tabs and newlines inside URLs and read `\` as `/`, so `/\t/evil.host` means
/// `//evil.host`: a target with anything but printable ASCII, or any backslash, goes to `/` instead.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    })
    .unwrap_or("/")
}

/// Query of `GET /sign-in`.
#[derive(Deserialize)]
pub(super) struct SignInQuery {
    next: Option<String>,
}

/// `GET /sign-in`.
pub(super) async fn sign_in_page(
    State(app): State<AppState>,
    visitor: Option<Extension<Visitor>>,
    Query(query): Query<SignInQuery>,
) -> Result<Response, Error> {
    if !app.config.portal {
        return Ok(Redirect::to("/").into_response());
    }
    let next = safe_next(query.next.as_deref());
    if let Some(Extension(Visitor::SignedIn { .. })) = visitor {
        return Ok(Redirect::to(next).into_response());
    }
    Ok(sign_in_form(&app, StatusCode::OK, None, next, ""))
}

fn sign_in_form(
    app: &AppState,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    username: &str,
) -> Response {
    let csrf: String = auth::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let form = SignInForm {
        error,
        csrf: &csrf,
        next,
        username,
    };
    let mut response = render_page(app, status, "Sign in", &form, None);
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &csrf,
        "/sign-in",
        "Strict",
        3600,
        app.config.secure_cookies,
    );
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Form of `POST /sign-in`.
#[derive(Deserialize)]
pub(super) struct SignIn {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// `POST /sign-in`: a new session (never a pre-existing id), or the same error for any bad credentials.
pub(super) async fn sign_in(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, Error> {
    let next = safe_next(form.next.as_deref());
    if !app.config.portal {
        return Ok(Redirect::to("/").into_response());
    }
    if cookie(&headers, SIGN_IN_COOKIE) != Some(form.csrf.as_str()) {
        return Ok(sign_in_form(
            &app,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again."),
            next,
            &form.username,
        ));
    }
    match auth::sign_in(
        &app.db,
        &app.passwords,
        &form.username,
        &form.password,
        client,
    )
    .await
    {
        Ok((token, _)) => {
            let max_age = app.config.session_policy().absolute.as_secs();
            let mut response = Redirect::to(next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &token,
                    "/",
                    "Lax",
                    max_age,
                    app.config.secure_cookies,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    SIGN_IN_COOKIE,
                    "",
                    "/sign-in",
                    "Strict",
                    0,
                    app.config.secure_cookies,
                ),
            );
            Ok(response)
        }
        Err(AuthError::Database(e)) => Err(e.into()),
        Err(e) => {
            let status = match e {
                AuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                AuthError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut response =
                sign_in_form(&app, status, Some(&e.to_string()), next, &form.username);
            if let Some(wait) = retry_after(&e) {
                response.headers_mut().insert(header::RETRY_AFTER, wait);
            }
            Ok(response)
        }
    }
}

/// `Retry-After` for a throttled or busy answer, in whole seconds.
fn retry_after(error: &AuthError) -> Option<axum::http::HeaderValue> {
    let seconds = match error {
        AuthError::Throttled(wait) => wait.as_secs().max(1),
        AuthError::Busy(_) => 5,
        _ => return None,
    };
    Some(seconds.into())
}

/// Form of state-changing requests that carry only the CSRF token.
#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

/// `POST /sign-out`: the session ends on the server, not just in the browser.
pub(super) async fn sign_out(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Error> {
    visitor.check_csrf(Some(&form.csrf))?;
    if let Visitor::SignedIn { token, .. } = &visitor {
        auth::sign_out(&app.db, token).await?;
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", "Lax", 0, app.config.secure_cookies),
    );
    Ok(response)
}

/// `GET /account/password`.
pub(super) async fn password_page(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Learner, &app.site.current())?;
    let form = PasswordForm {
        error: None,
        done: false,
        csrf: &session.csrf_token,
        min_length: password::MIN_LENGTH,
    };
    Ok(render_page(
        &app,
        StatusCode::OK,
        "Password",
        &form,
        Some(&visitor),
    ))
}

/// Form of `POST /account/password`.
#[derive(Deserialize)]
pub(super) struct ChangePassword {
    csrf: String,
    current: String,
    new: String,
}

/// `POST /account/password`: needs the current password; ends the person's other sessions.
pub(super) async fn change_password(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<ChangePassword>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Learner, &app.site.current())?;
    visitor.check_csrf(Some(&form.csrf))?;
    let Visitor::SignedIn { token, .. } = &visitor else {
        unreachable!("require returned a session")
    };
    let outcome = auth::change_password(
        &app.db,
        &app.passwords,
        &session.user,
        &form.current,
        &form.new,
        token,
        client,
    )
    .await;
    let wait = outcome.as_ref().err().and_then(retry_after);
    let (status, error, done) = match outcome {
        Ok(()) => (StatusCode::OK, None, true),
        Err(AuthError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            Some("The current password is not right.".to_owned()),
            false,
        ),
        Err(e @ AuthError::Throttled(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, Some(e.to_string()), false)
        }
        Err(e @ AuthError::Busy(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, Some(e.to_string()), false)
        }
        Err(AuthError::Database(e)) => return Err(e.into()),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e.to_string()), false),
    };
    let form = PasswordForm {
        error: error.as_deref(),
        done,
        csrf: &session.csrf_token,
        min_length: password::MIN_LENGTH,
    };
    let mut response = render_page(&app, status, "Password", &form, Some(&visitor));
    if let Some(wait) = wait {
        response.headers_mut().insert(header::RETRY_AFTER, wait);
    }
    Ok(response)
}

/// `GET /admin/users`.
pub(super) async fn users_page(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Admin, &app.site.current())?;
    let users = auth::list_accounts(&app.db).await?;
    let page = UsersPage {
        error: None,
        created: &[],
        csrf: &session.csrf_token,
        users: &users,
    };
    Ok(render_page(
        &app,
        StatusCode::OK,
        "Users",
        &page,
        Some(&visitor),
    ))
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

/// `POST /admin/users`: creates an account with a generated password, shown once.
pub(super) async fn add_user(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<AddUser>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Admin, &app.site.current())?;
    visitor.check_csrf(Some(&form.csrf))?;
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
        .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let users = auth::list_accounts(&app.db).await?;
    let (status, error, created) = match &outcome {
        Ok(user) => (
            StatusCode::OK,
            None,
            Some((user.username.as_str(), generated.as_str())),
        ),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e.as_str()), None),
    };
    let created: Vec<(&str, &str)> = created.into_iter().collect();
    let page = UsersPage {
        error,
        created: &created,
        csrf: &session.csrf_token,
        users: &users,
    };
    Ok(render_page(&app, status, "Users", &page, Some(&visitor)))
}

/// Form of `POST /admin/users/import`.
#[derive(Deserialize)]
pub(super) struct ImportUsers {
    csrf: String,
    csv: String,
}

/// `POST /admin/users/import`: one account per CSV line `username,role,cohort` (a header line is
/// skipped); every created account's generated password is shown once, every bad line says why.
pub(super) async fn import_users(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<ImportUsers>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Admin, &app.site.current())?;
    visitor.check_csrf(Some(&form.csrf))?;
    let mut created: Vec<(String, String)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for (number, line) in form.csv.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || (number == 1 && line.to_lowercase().starts_with("username")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (username, role, cohort) = match fields.as_slice() {
            [u] => (*u, "learner", ""),
            [u, r] => (*u, *r, ""),
            [u, r, c] => (*u, *r, *c),
            _ => {
                errors.push(format!("line {number}: expected username,role,cohort"));
                continue;
            }
        };
        let role = if role.is_empty() { "learner" } else { role };
        let password = password::generate();
        let outcome = match Role::parse(role) {
            Ok(role) => auth::create_account(
                &app.db,
                &app.passwords.hasher,
                username,
                role,
                &password,
                Some(cohort),
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(user) => created.push((user.username, password)),
            Err(e) => errors.push(format!("line {number}: {e}")),
        }
    }
    let users = auth::list_accounts(&app.db).await?;
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    let created: Vec<(&str, &str)> = created
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = UsersPage {
        error: error.as_deref(),
        created: &created,
        csrf: &session.csrf_token,
        users: &users,
    };
    Ok(render_page(&app, status, "Users", &page, Some(&visitor)))
}

#[derive(Template)]
#[template(path = "admin_clusters.html")]
struct ClustersPage<'a> {
    error: Option<&'a str>,
    done: Option<&'a str>,
    csrf: &'a str,
    assignments: &'a [crate::labs::store::Assignment],
}

/// `GET /admin/clusters`.
pub(super) async fn clusters_page(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Admin, &app.site.current())?;
    let assignments = crate::labs::store::assignments(&app.db).await?;
    let page = ClustersPage {
        error: None,
        done: None,
        csrf: &session.csrf_token,
        assignments: &assignments,
    };
    Ok(render_page(
        &app,
        StatusCode::OK,
        "Clusters",
        &page,
        Some(&visitor),
    ))
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

/// `POST /admin/clusters`: stores a kubeconfig for a learner or a cohort, after checking it parses.
pub(super) async fn assign_cluster(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<AssignCluster>,
) -> Result<Response, Error> {
    let session = visitor.require(Role::Admin, &app.site.current())?;
    visitor.check_csrf(Some(&form.csrf))?;
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let (username, cohort, context) = (
        non_empty(&form.username),
        non_empty(&form.cohort),
        non_empty(&form.context),
    );
    let outcome: Result<String, String> = async {
        if username.is_some() == cohort.is_some() {
            return Err("name either one learner or one cohort".to_owned());
        }
        let server = crate::labs::validate_kubeconfig(&form.kubeconfig, context.as_deref())?;
        let learners =
            crate::labs::store::learners_named(&app.db, username.as_deref(), cohort.as_deref())
                .await
                .map_err(|e| e.to_string())?;
        if learners.is_empty() {
            return Err(match (&username, &cohort) {
                (Some(u), _) => format!("there is no learner `{u}`"),
                (_, Some(c)) => format!("the cohort `{c}` has no learners"),
                _ => unreachable!(),
            });
        }
        crate::labs::store::assign(
            &app.db,
            &learners,
            &form.kubeconfig,
            context.as_deref(),
            &server,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(format!(
            "Assigned {server} to {} learner{}.",
            learners.len(),
            if learners.len() == 1 { "" } else { "s" }
        ))
    }
    .await;
    let assignments = crate::labs::store::assignments(&app.db).await?;
    let (status, error, done) = match &outcome {
        Ok(done) => (StatusCode::OK, None, Some(done.as_str())),
        Err(e) => (StatusCode::BAD_REQUEST, Some(e.as_str()), None),
    };
    let page = ClustersPage {
        error,
        done,
        csrf: &session.csrf_token,
        assignments: &assignments,
    };
    Ok(render_page(&app, status, "Clusters", &page, Some(&visitor)))
}
