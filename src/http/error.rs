//! The HTTP layer's one error type, and the one place where errors become response bodies.
//!
//! Handlers and extractors fail with an [`Error`]: a status and a message that is safe to show (a
//! database's or a template's own text goes to the log, never to the client). Every domain error is
//! converted here, in one `From` impl each. [`render`], the outermost middleware, writes the body by
//! the kind of route, not by the error: JSON `{"error": …}` under `/api/`, plain text on the health
//! probes, a page in the site's chrome everywhere else. It gives axum's own plain-text rejections (a malformed form or JSON body, a body
//! over the limit, a timeout, a panic) the same treatment, so no route answers in the wrong format.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::session::Visitor;
use crate::app::AppState;

/// What a handler can fail with; each variant is its status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// 400: the request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 401: sign in first.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed (or a missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing here; the message says what was looked for.
    #[error("{0}")]
    NotFound(String),
    /// 409: someone changed it first, or it is closed to changes.
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed, but it does not fit (an answer to a question).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: a per-learner limit was reached; answered with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        /// What to do, as the page shows it.
        message: String,
        /// How long until it is allowed again.
        retry_after: Duration,
    },
    /// 500: a bug; the cause was logged where it happened.
    #[error("something went wrong on the server; the cause is in its log")]
    Internal,
    /// 502: the cluster a check asked could not answer; the message says what to try, the detail
    /// what exactly failed.
    #[error("{message}")]
    BadGateway {
        /// A plain sentence with what to try.
        message: String,
        /// The technical cause, shown on request.
        detail: String,
    },
    /// 503: a dependency (the database) is not answering.
    #[error("{0}")]
    Unavailable(String),
    /// 503: the database's storage refused a write (a full disk): nothing was stored, and
    /// `/readyz` says so for a while.
    #[error(
        "this was not saved: {0}. Nothing was stored; try again later, and tell the portal's administrator"
    )]
    StorageFailure(&'static str),
}

impl Error {
    /// A per-learner limit reached while doing `what` (e.g. "checking your work").
    pub(crate) fn too_many(what: &str, retry_after: Duration) -> Self {
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Error::TooManyRequests {
            message: format!("You are {what} too often: wait {seconds} s and try again."),
            retry_after: Duration::from_secs(seconds),
        }
    }

    /// A failure whose cause must not reach the client: logged here, answered as a 500.
    pub(crate) fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {cause}");
        Error::Internal
    }

    /// The status this error answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Error::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Error::Unavailable(_) | Error::StorageFailure(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error's message (and technical detail, if any), carried in the response's extensions until
/// [`render`] writes the body.
#[derive(Debug, Clone)]
pub(super) struct Problem(String, Option<String>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if let Error::TooManyRequests { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.as_secs().into());
        }
        let detail = match &self {
            Error::BadGateway { detail, .. } => Some(detail.clone()),
            _ => None,
        };
        if let Error::StorageFailure(cause) = &self {
            response.extensions_mut().insert(StorageRefusedWrite(cause));
        }
        response
            .extensions_mut()
            .insert(Problem(self.to_string(), detail));
        response
    }
}

/// Marks a response whose write the storage refused, for [`render`] to tell `App::write_health`.
#[derive(Debug, Clone, Copy)]
struct StorageRefusedWrite(&'static str);

impl From<sqlx::Error> for Error {
    /// The database failed: logged with its cause, answered 503 without SQLite's text (it can
    /// describe the schema and the query); a full or failing disk is said in plain words.
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(error = %error, "database error");
        match crate::db::storage_failure(&error) {
            Some(cause) => Error::StorageFailure(cause),
            None => Error::Unavailable("the database is not available; try again".to_owned()),
        }
    }
}

impl From<crate::labs::RunError> for Error {
    fn from(error: crate::labs::RunError) -> Self {
        use crate::labs::RunError;
        match error {
            RunError::NotFound(message) => Error::NotFound(message),
            RunError::Cluster(e) => Error::BadGateway {
                message: e.advice(),
                detail: e.to_string(),
            },
            RunError::NotConnected => Error::Conflict(error.to_string()),
            RunError::Database(e) => e.into(),
        }
    }
}

impl From<crate::assess::AssessError> for Error {
    fn from(error: crate::assess::AssessError) -> Self {
        use crate::assess::AssessError as Assess;
        match error {
            Assess::NotFound(message) => Error::NotFound(message),
            Assess::Invalid(message) => Error::Unprocessable(message),
            Assess::Conflict(message) => Error::Conflict(message),
            Assess::Database(e) => e.into(),
        }
    }
}

impl From<crate::auth::AuthError> for Error {
    fn from(error: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as Auth;
        match error {
            Auth::InvalidCredentials
            | Auth::Deactivated
            | Auth::PasswordSignInOff
            | Auth::NotProvisioned => Error::Unauthorized(error.to_string()),
            Auth::IdentityTaken(_) => Error::Conflict(error.to_string()),
            Auth::Throttled(wait) => Error::TooManyRequests {
                message: error.to_string(),
                retry_after: wait,
            },
            Auth::UsernameTaken(_) | Auth::InvalidUsername(_) | Auth::WeakPassword(_) => {
                Error::BadRequest(error.to_string())
            }
            Auth::NoSuchAccount(_) => Error::NotFound(error.to_string()),
            Auth::LastAdmin => Error::Conflict(error.to_string()),
            Auth::Busy(_) => Error::Unavailable(error.to_string()),
            Auth::Database(e) => e.into(),
        }
    }
}

impl From<crate::lti::LtiError> for Error {
    fn from(error: crate::lti::LtiError) -> Self {
        use crate::lti::LtiError as Lti;
        match error {
            Lti::Invalid(_) | Lti::BadState | Lti::OtherBrowser => {
                Error::BadRequest(error.to_string())
            }
            Lti::UnknownPlatform(_) => Error::NotFound(error.to_string()),
            Lti::Duplicate(_) => Error::Conflict(error.to_string()),
            Lti::PlatformUnreachable => Error::BadGateway {
                message: error.to_string(),
                detail: String::new(),
            },
            Lti::Rejected(_) => Error::Unauthorized(error.to_string()),
            Lti::Account(e) => e.into(),
            Lti::Database(e) => e.into(),
        }
    }
}

impl From<crate::sso::SsoError> for Error {
    fn from(error: crate::sso::SsoError) -> Self {
        use crate::sso::SsoError as Sso;
        match error {
            Sso::ProviderUnreachable(_) => Error::BadGateway {
                message: error.to_string(),
                detail: String::new(),
            },
            Sso::BadState | Sso::Denied(_) => Error::BadRequest(error.to_string()),
            Sso::DomainNotAllowed(_) | Sso::GroupClaimMissing(_) => {
                Error::Forbidden(error.to_string())
            }
            Sso::TokenRejected(_) => Error::Unauthorized(error.to_string()),
            Sso::Account(e) => e.into(),
            Sso::Database(e) => e.into(),
        }
    }
}

impl From<crate::bridge::BridgeError> for Error {
    fn from(error: crate::bridge::BridgeError) -> Self {
        use crate::bridge::BridgeError;
        match error {
            BridgeError::BadCode => Error::BadRequest(error.to_string()),
            BridgeError::Token(reason) => Error::Unauthorized(reason.to_owned()),
            BridgeError::NotFound => Error::NotFound(error.to_string()),
            BridgeError::Database(e) => e.into(),
        }
    }
}

/// Largest plain-text error body (from axum or tower-http) that is read to be rendered again.
const MAX_PLAIN_ERROR: usize = 16 * 1024;

/// How a route answers: decided by its path, for every error on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteKind {
    /// `/api/…`: JSON.
    Api,
    /// `/healthz`, `/readyz`: plain text for probes.
    Probe,
    /// Everything else: HTML pages.
    Page,
}

impl RouteKind {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            RouteKind::Api
        } else if matches!(path, "/healthz" | "/readyz") {
            RouteKind::Probe
        } else {
            RouteKind::Page
        }
    }
}

/// Writes every error response's body by route kind (see the module doc).
pub(super) async fn render(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let kind = RouteKind::of(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    if let Some(StorageRefusedWrite(cause)) = parts.extensions.remove() {
        app.write_health.record(cause);
    }
    let (message, detail) = match parts.extensions.remove::<Problem>() {
        Some(Problem(message, detail)) => (message, detail),
        None if is_plain_text(&parts.headers) => {
            match axum::body::to_bytes(body, MAX_PLAIN_ERROR).await {
                Ok(bytes) => (String::from_utf8_lossy(&bytes).trim().to_owned(), None),
                Err(_) => (String::new(), None),
            }
        }
        None => return Response::from_parts(parts, body),
    };
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let rendered = if kind == RouteKind::Api {
        match detail {
            Some(detail) => Json(serde_json::json!({ "error": message, "detail": detail })),
            None => Json(serde_json::json!({ "error": message })),
        }
        .into_response()
    } else if kind == RouteKind::Probe {
        message.into_response()
    } else {
        let account = parts
            .extensions
            .get::<Visitor>()
            .map(Visitor::account_html)
            .unwrap_or_default();
        let heading = match status {
            StatusCode::NOT_FOUND => "Page not found",
            StatusCode::FORBIDDEN => "Not allowed",
            other => other.canonical_reason().unwrap_or("Error"),
        };
        Html(app.site.current().problem(heading, &message, &account)).into_response()
    };
    let (rendered_parts, rendered_body) = rendered.into_parts();
    if let Some(content_type) = rendered_parts.headers.get(header::CONTENT_TYPE) {
        parts
            .headers
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, rendered_body)
}

fn is_plain_text(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
}
