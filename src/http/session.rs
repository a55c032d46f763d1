//! Who a request acts for. In portal mode the gate lets anonymous visitors reach only the sign-in
//! page, static files and health endpoints; every other request carries a signed-in [`Visitor`].

use askama::Template;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::Error;
use crate::app::AppState;
use crate::assess;
use crate::auth::{self, Role, Session, StaffScope};
use crate::db::LOCAL_LEARNER_ID;

/// The session cookie: a random token; the database keeps only its hash.
pub(super) const SESSION_COOKIE: &str = "lectern_session";

/// Whom a request acts for.
#[derive(Debug, Clone)]
pub(crate) enum Visitor {
    /// Personal mode: the one implicit learner.
    Local,
    /// Portal mode: a signed-in person.
    SignedIn {
        /// The cookie's token, to end or keep this session.
        token: String,
        /// Who, and their CSRF token.
        session: Session,
        /// Instructor grades released to them since they last opened My work (the badge on pages).
        unseen_grades: usize,
    },
}

impl Visitor {
    /// The same visitor with nothing new to flag (the page that shows what was new).
    pub(crate) fn with_grades_seen(&self) -> Self {
        match self {
            Visitor::SignedIn { token, session, .. } => Visitor::SignedIn {
                token: token.clone(),
                session: session.clone(),
                unseen_grades: 0,
            },
            Visitor::Local => Visitor::Local,
        }
    }

    /// The learner whose progress this request reads and writes.
    pub(crate) fn learner_id(&self) -> i64 {
        match self {
            Visitor::Local => LOCAL_LEARNER_ID,
            Visitor::SignedIn { session, .. } => session.user.learner_id,
        }
    }

    /// Checks the CSRF token of a state-changing request; personal mode has no sessions to forge.
    pub(crate) fn check_csrf(&self, submitted: Option<&str>) -> Result<(), Error> {
        match self {
            Visitor::Local => Ok(()),
            Visitor::SignedIn { session, .. }
                if submitted.is_some_and(|t| session.csrf_matches(t)) =>
            {
                Ok(())
            }
            Visitor::SignedIn { .. } => Err(Error::Forbidden(
                "missing or wrong CSRF token: reload the page and try again".to_owned(),
            )),
        }
    }

    /// Whether model answers are for this visitor: staff in a portal, and in personal mode the
    /// learner who scores their own answers against them.
    pub(crate) fn sees_grading_material(&self) -> bool {
        match self {
            Visitor::Local => true,
            Visitor::SignedIn { session, .. } => session.user.role >= Role::Instructor,
        }
    }

    /// The signed-in session with at least `role`; learners get 403, personal mode 404.
    fn require(&self, role: Role) -> Result<&Session, Error> {
        match self {
            Visitor::Local => Err(Error::NotFound(
                "Accounts exist only in portal mode (lectern serve --portal).".to_owned(),
            )),
            Visitor::SignedIn { session, .. } if session.user.role >= role => Ok(session),
            Visitor::SignedIn { .. } => Err(Error::Forbidden(format!(
                "This page is for {}s.",
                role.as_str()
            ))),
        }
    }

    /// The header's account area: who is signed in, and sign-out.
    pub(crate) fn account_html(&self) -> String {
        match self {
            Visitor::Local => String::new(),
            Visitor::SignedIn {
                session,
                unseen_grades,
                ..
            } => AccountNav {
                unseen_grades: *unseen_grades,
                username: &session.user.username,
                role: session.user.role.as_str(),
                is_admin: session.user.role == Role::Admin,
                is_instructor: session.user.role >= Role::Instructor,
                csrf: &session.csrf_token,
            }
            .render()
            .unwrap_or_else(|e| {
                tracing::error!("cannot render the account area: {e}");
                String::new()
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "partials/account.html")]
struct AccountNav<'a> {
    unseen_grades: usize,
    username: &'a str,
    role: &'a str,
    is_admin: bool,
    is_instructor: bool,
    csrf: &'a str,
}

/// A signed-in person whose role is at least `MIN_ROLE` (0 learner, 1 instructor, 2 admin), as a
/// handler's extractor: personal mode answers 404 (there are no accounts), a lower role 403.
#[derive(Debug, Clone)]
pub(crate) struct Account<const MIN_ROLE: u8> {
    /// For the page's account area.
    pub(crate) visitor: Visitor,
    /// Who, and their CSRF token.
    pub(crate) session: Session,
    /// Whose learners they follow and grade (read for staff extractors only; a learner's is their
    /// own, empty, list).
    pub(crate) scope: StaffScope,
}

/// Anyone signed in.
pub(crate) type AnyAccount = Account<0>;
/// Instructors and admins.
pub(crate) type Instructor = Account<1>;
/// Admins.
pub(crate) type Admin = Account<2>;

impl<const MIN_ROLE: u8> axum::extract::FromRequestParts<AppState> for Account<MIN_ROLE> {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Error> {
        let role = match MIN_ROLE {
            0 => Role::Learner,
            1 => Role::Instructor,
            _ => Role::Admin,
        };
        let visitor = parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            Error::internal("extracting the account", "the session gate did not run")
        })?;
        let session = visitor.require(role)?.clone();
        let scope = if role >= Role::Instructor {
            auth::staff_scope(&app.db, &session.user).await?
        } else {
            StaffScope::CohortsOf(session.user.learner_id)
        };
        Ok(Self {
            visitor,
            session,
            scope,
        })
    }
}

/// Form of state-changing requests that carry only the CSRF token (sign-out, buttons).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

csrf_field!(CsrfOnly);

/// Implements [`HasCsrf`] for forms whose token is their `csrf` field: one shape for every form.
macro_rules! csrf_field {
    ($form:ty) => {
        impl $crate::http::session::HasCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    };
}
pub(crate) use csrf_field;

/// A form whose CSRF token (its `csrf` field) was checked against the visitor's session.
pub(crate) struct CsrfForm<T>(pub(crate) T);

/// A form that carries the session's CSRF token.
pub(crate) trait HasCsrf {
    /// The submitted token.
    fn csrf(&self) -> &str;
}

impl<T> axum::extract::FromRequest<AppState> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + HasCsrf,
{
    /// axum's own rejection for a malformed form (rendered by route kind like any error), or ours.
    type Rejection = Response;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Response> {
        let visitor = request
            .extensions()
            .get::<Visitor>()
            .cloned()
            .ok_or_else(|| {
                Error::internal("checking a form", "the session gate did not run").into_response()
            })?;
        let axum::Form(form) =
            <axum::Form<T> as axum::extract::FromRequest<AppState>>::from_request(request, app)
                .await
                .map_err(IntoResponse::into_response)?;
        visitor
            .check_csrf(Some(form.csrf()))
            .map_err(IntoResponse::into_response)?;
        Ok(Self(form))
    }
}

/// The visitor of a JSON action (`/api/…`) whose `X-CSRF-Token` header matched their session, as
/// pages' scripts send it; a missing or wrong token is a 403.
pub(crate) struct CsrfHeader(pub(crate) Visitor);

impl axum::extract::FromRequestParts<AppState> for CsrfHeader {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Error> {
        let visitor = parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            Error::internal("checking a JSON action", "the session gate did not run")
        })?;
        let token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        visitor.check_csrf(token)?;
        Ok(Self(visitor))
    }
}

/// Paths anonymous visitors may reach in portal mode.
fn is_public(path: &str) -> bool {
    // The bridge's endpoints authenticate with a pairing code or a bridge token, not a session;
    // the replicas' with the servers' shared secret.
    matches!(
        path,
        "/sign-in"
            | "/sign-in/oidc"
            | "/sign-in/oidc/callback"
            | "/lti/login"
            | "/lti/launch"
            | "/lti/jwks"
            | "/healthz"
            | "/metrics"
            | "/readyz"
            | "/api/bridge"
            | "/api/bridge/pair"
    ) || path.starts_with("/static/")
        || path.starts_with("/api/replicas/")
}

/// Resolves the visitor, and in portal mode turns anonymous requests away from everything non-public.
pub(super) async fn gate(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !app.config.portal {
        request.extensions_mut().insert(Visitor::Local);
        return next.run(request).await;
    }
    let session = match cookie(request.headers(), SESSION_COOKIE) {
        Some(token) => match auth::session(&app.db, token, app.config.session_policy()).await {
            Ok(session) => session.map(|s| (token.to_owned(), s)),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return Error::Unavailable("the database is not available; try again".to_owned())
                    .into_response();
            }
        },
        None => None,
    };
    let path = request.uri().path().to_owned();
    match session {
        Some((token, session)) => {
            // Only pages show the account area, so only they count what is new on My work.
            let is_page = request.method() == axum::http::Method::GET
                && !path.starts_with("/api/")
                && !path.starts_with("/static/")
                && !path.starts_with("/files/");
            let unseen_grades = if is_page {
                match assess::unseen_grades(&app.db, session.user.learner_id).await {
                    Ok(n) => n,
                    Err(e) => return Error::from(e).into_response(),
                }
            } else {
                0
            };
            let frame_ancestors = session.frame_ancestors.clone();
            let visitor = Visitor::SignedIn {
                token,
                session,
                unseen_grades,
            };
            request.extensions_mut().insert(visitor.clone());
            let mut response = next.run(request).await;
            if !frame_ancestors.is_empty() {
                allow_framing(&mut response, &frame_ancestors);
            }
            if response.status().is_client_error() || response.status().is_server_error() {
                // For the error page's account area (see `error::render`).
                response.extensions_mut().insert(visitor);
            }
            response
        }
        None if is_public(&path) => next.run(request).await,
        None if path.starts_with("/api/") => {
            Error::Unauthorized("sign in first".to_owned()).into_response()
        }
        None => {
            let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
            let next: String = url_encode(target);
            Redirect::to(&format!("/sign-in?next={next}")).into_response()
        }
    }
}

/// Lets the learning platform that launched a session frame its pages, and nobody else: the CSP's
/// `frame-ancestors` names the platform's origins (in a policy the handler set, or the default).
fn allow_framing(response: &mut Response, origins: &[String]) {
    let policy = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(super::CONTENT_SECURITY_POLICY);
    let framed = policy.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {}", origins.join(" ")),
    );
    if let Ok(value) = HeaderValue::from_str(&framed) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
        response.extensions_mut().insert(super::FramedByPlatform);
    }
}

/// The value of a cookie in the request.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// When browsers send a cookie along.
#[derive(Debug, Clone, Copy)]
pub(super) enum CookieSite {
    /// Only from Lectern's own pages.
    Strict,
    /// Also on top-level navigations from other sites (a link, a provider's redirect back).
    Lax,
    /// Also inside another site's iframe (an LMS): `SameSite=None; Secure; Partitioned`.
    CrossSite,
}

/// A `Set-Cookie` value: always HttpOnly, `Secure` when configured (cross-site cookies always are);
/// `max_age` 0 deletes.
pub(super) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    site: CookieSite,
    max_age: u64,
    secure: bool,
) -> HeaderValue {
    let site = match (site, secure) {
        (CookieSite::Strict, false) => "SameSite=Strict",
        (CookieSite::Strict, true) => "SameSite=Strict; Secure",
        (CookieSite::Lax, false) => "SameSite=Lax",
        (CookieSite::Lax, true) => "SameSite=Lax; Secure",
        (CookieSite::CrossSite, _) => "SameSite=None; Secure; Partitioned",
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; {site}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("a=1; lectern_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, "lectern_session"), Some("abc"));
        assert_eq!(cookie(&headers, "lectern"), None);
    }

    #[test]
    fn redirect_targets_are_encoded() {
        assert_eq!(url_encode("/modules/x?a=b&c"), "/modules/x%3Fa%3Db%26c");
    }
}
