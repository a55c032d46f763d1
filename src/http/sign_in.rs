//! Endpoints for signing in and out, and for changing one's password.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::client_addr::ClientAddr;
use super::session::{
    AnyAccount, CookieSite, CsrfForm, CsrfOnly, SESSION_COOKIE, Visitor, cookie, csrf_field,
    set_cookie,
};
use super::{Error, Page};
use crate::app::AppState;
use crate::auth::{self, AuthError, password};

/// Ties the sign-in form to this browser (login CSRF): the form's hidden field must equal this cookie.
const SIGN_IN_COOKIE: &str = "lectern_sign_in";

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInForm<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    /// "Sign in with <name>", when single sign-on is configured.
    sso: Option<&'a str>,
    /// Passwords only for break-glass accounts: the form is folded away.
    break_glass: bool,
    /// Just signed out: the provider's logout, to end the session there too.
    provider_logout: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordForm<'a> {
    /// Whose password, for password managers (a hidden field).
    username: &'a str,
    error: Option<&'a str>,
    done: bool,
    csrf: &'a str,
    min_length: usize,
}

/// Only same-site paths: an open redirect would let a link send people anywhere after sign-in.
/// Browsers drop tabs and newlines inside URLs and read `\` as `/`, so `/\t/evil.host` means
/// `//evil.host`: a target with anything but printable ASCII, or any backslash, goes to `/` instead.
pub(super) fn safe_next(next: Option<&str>) -> &str {
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
    /// Set by sign-out: offer the provider's logout too.
    #[serde(default)]
    signed_out: Option<String>,
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
    let provider_logout = match (&app.sso, query.signed_out.is_some()) {
        (Some(sso), true) => sso.logout_url().await,
        _ => None,
    };
    sign_in_form_with(
        &app,
        StatusCode::OK,
        None,
        next,
        "",
        provider_logout.as_deref(),
    )
}

fn sign_in_form(
    app: &AppState,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    username: &str,
) -> Result<Response, Error> {
    sign_in_form_with(app, status, error, next, username, None)
}

fn sign_in_form_with(
    app: &AppState,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    username: &str,
    provider_logout: Option<&str>,
) -> Result<Response, Error> {
    let csrf = crate::secrets::random_hex::<16>();
    let error = error.map(super::as_sentence);
    let form = SignInForm {
        error: error.as_deref(),
        csrf: &csrf,
        next,
        username,
        sso: app.sso.as_ref().map(|s| s.provider_name()),
        break_glass: app.config.sso.password_sign_in == crate::config::PasswordSignIn::BreakGlass,
        provider_logout,
    };
    let mut response = Page::new(app, "Sign in", &form, None)
        .with_status(status)
        .into_response();
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &csrf,
        "/sign-in",
        CookieSite::Strict,
        3600,
        app.config.secure_cookies,
    );
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
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
        return sign_in_form(
            &app,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again."),
            next,
            &form.username,
        );
    }
    match auth::sign_in(
        &app.db,
        &app.passwords,
        &form.username,
        &form.password,
        client,
        app.config.sso.password_sign_in == crate::config::PasswordSignIn::BreakGlass,
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
                    CookieSite::Lax,
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
                    CookieSite::Strict,
                    0,
                    app.config.secure_cookies,
                ),
            );
            Ok(response)
        }
        Err(AuthError::Database(e)) => Err(e.into()),
        Err(e) => {
            let wait = retry_after(&e);
            let error = Error::from(e);
            let mut response = sign_in_form(
                &app,
                error.status(),
                Some(&error.to_string()),
                next,
                &form.username,
            )?;
            if let Some(wait) = wait {
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

/// `POST /sign-out`: the session ends on the server, not just in the browser.
pub(super) async fn sign_out(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    // A launch's cookie is deleted as it was set: a partitioned cookie only by a partitioned one.
    let mut site = CookieSite::Lax;
    if let Visitor::SignedIn { token, session, .. } = &visitor {
        auth::sign_out(&app.db, token).await?;
        if !session.frame_ancestors.is_empty() {
            site = CookieSite::CrossSite;
        }
    }
    let to = if app.sso.is_some() {
        "/sign-in?signed_out=1"
    } else {
        "/sign-in"
    };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", site, 0, app.config.secure_cookies),
    );
    Ok(response)
}

/// `GET /account/password`.
pub(super) async fn password_page(
    State(app): State<AppState>,
    account: AnyAccount,
) -> Result<Response, Error> {
    let form = PasswordForm {
        username: &account.session.user.username,
        error: None,
        done: false,
        csrf: &account.session.csrf_token,
        min_length: password::MIN_LENGTH,
    };
    Ok(Page::new(&app, "Password", &form, Some(&account.visitor)).into_response())
}

/// Form of `POST /account/password`.
#[derive(Deserialize)]
pub(super) struct ChangePassword {
    csrf: String,
    current: String,
    new: String,
    /// The new password typed again (the page's form sends it; a script may leave it out).
    repeat: Option<String>,
}

csrf_field!(ChangePassword);

/// `POST /account/password`: needs the current password; ends the person's other sessions.
pub(super) async fn change_password(
    State(app): State<AppState>,
    account: AnyAccount,
    ClientAddr(client): ClientAddr,
    CsrfForm(form): CsrfForm<ChangePassword>,
) -> Result<Response, Error> {
    let (session, visitor) = (&account.session, &account.visitor);
    let Visitor::SignedIn { token, .. } = visitor else {
        return Err(Error::internal(
            "changing a password",
            "an account without a session",
        ));
    };
    let mistyped = form
        .repeat
        .as_ref()
        .is_some_and(|repeat| *repeat != form.new);
    // A mistyped repeat is answered without asking for the change (nothing is tried, nothing
    // counts towards throttling); it shares the page below.
    let outcome = if mistyped {
        Ok(())
    } else {
        auth::change_password(
            &app.db,
            &app.passwords,
            &session.user,
            &form.current,
            &form.new,
            token,
            client,
        )
        .await
    };
    let wait = outcome.as_ref().err().and_then(retry_after);
    let (status, error, done) = match outcome {
        Ok(()) if mistyped => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(
                "The two new passwords differ: type the same one twice. Nothing was changed."
                    .to_owned(),
            ),
            false,
        ),
        Ok(()) => (StatusCode::OK, None, true),
        Err(AuthError::Database(e)) => return Err(e.into()),
        Err(e) => {
            let wrong_password = matches!(e, AuthError::InvalidCredentials);
            let error = Error::from(e);
            let message = if wrong_password {
                "The current password is not right.".to_owned()
            } else {
                error.to_string()
            };
            (error.status(), Some(message), false)
        }
    };
    let form = PasswordForm {
        username: &session.user.username,
        error: error.as_deref(),
        done,
        csrf: &session.csrf_token,
        min_length: password::MIN_LENGTH,
    };
    let mut response = Page::new(&app, "Password", &form, Some(visitor))
        .with_status(status)
        .into_response();
    if let Some(wait) = wait {
        response.headers_mut().insert(header::RETRY_AFTER, wait);
    }
    Ok(response)
}
