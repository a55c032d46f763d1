//! Single sign-on's two endpoints: `GET /sign-in/oidc` sends the browser to the provider, and
//! `GET /sign-in/oidc/callback` signs in whoever the provider vouches for. The state travels in a
//! `SameSite=Lax` cookie scoped to these paths (a top-level return from the provider carries it).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Error;
use super::client_addr::ClientAddr;
use super::session::{CookieSite, SESSION_COOKIE, cookie, set_cookie};
use super::sign_in::safe_next;
use crate::app::AppState;
use crate::sso::{Callback, SsoError};

/// Holds a begun sign-in's state in the browser that began it.
const SSO_COOKIE: &str = "lectern_sso";
const SSO_COOKIE_PATH: &str = "/sign-in/oidc";

/// Query of `GET /sign-in/oidc`.
#[derive(Deserialize)]
pub(super) struct BeginQuery {
    next: Option<String>,
}

/// `GET /sign-in/oidc`: off to the provider's sign-in page.
pub(super) async fn begin(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    Query(query): Query<BeginQuery>,
) -> Result<Response, Error> {
    let Some(sso) = &app.sso else {
        return Err(Error::NotFound(
            "This portal has no single sign-on; sign in with your user name and password."
                .to_owned(),
        ));
    };
    // Each sign-in begun keeps a row until it completes or expires: throttled before that write.
    app.quotas
        .sign_in_starts
        .take_for_address(client)
        .map_err(|wait| Error::too_many("starting sign-ins", wait))?;
    let next = safe_next(query.next.as_deref());
    let begun = match sso.begin(&app.db, next).await {
        Ok(begun) => begun,
        Err(e) => return Ok(problem(&app, e)),
    };
    let mut response = Redirect::to(&begun.authorize_url).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SSO_COOKIE,
            &begun.state,
            SSO_COOKIE_PATH,
            CookieSite::Lax,
            600,
            app.config.secure_cookies,
        ),
    );
    Ok(response)
}

/// `GET /sign-in/oidc/callback`: the provider's answer; a session, or a page saying why not.
pub(super) async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Result<Response, Error> {
    let Some(sso) = &app.sso else {
        return Err(Error::NotFound(
            "This portal has no single sign-on.".to_owned(),
        ));
    };
    let outcome = sso
        .finish(
            &app.db,
            &app.passwords.hasher,
            &answer,
            cookie(&headers, SSO_COOKIE),
        )
        .await;
    let mut response = match outcome {
        Ok(signed_in) => {
            let mut response = Redirect::to(safe_next(Some(&signed_in.next))).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &signed_in.token,
                    "/",
                    CookieSite::Lax,
                    app.config.session_policy().absolute.as_secs(),
                    app.config.secure_cookies,
                ),
            );
            response
        }
        Err(SsoError::Database(e)) => return Err(e.into()),
        Err(e) => problem(&app, e),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SSO_COOKIE,
            "",
            SSO_COOKIE_PATH,
            CookieSite::Lax,
            0,
            app.config.secure_cookies,
        ),
    );
    Ok(response)
}

/// A refused sign-in as a page: what happened and what to do, with a way back.
fn problem(app: &AppState, error: SsoError) -> Response {
    let error = Error::from(error);
    let status = error.status();
    super::refusal(
        app,
        status,
        "Not signed in",
        &error,
        Some(("/sign-in", "Back to the sign-in page")),
    )
}
