//! The HTTP layer's error: each variant decides its status, and internals never reach the client.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Nothing here; carries the rendered 404 page.
    #[error("not found")]
    NotFound(String),
    /// A dependency (the database) is not answering; the message is safe to show.
    #[error("{0}")]
    Unavailable(String),
    /// An API request failed; answered as JSON `{"error": …}` with this status.
    #[error("{1}")]
    Api(StatusCode, String),
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Signed in, but not allowed; the message says what the page is for.
    #[error("{0}")]
    Forbidden(String),
    /// A per-learner limit was reached (API routes); answered `429` with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        /// What to do, as the page shows it.
        message: String,
        /// How long until it is allowed again.
        retry_after: std::time::Duration,
    },
}

impl Error {
    /// A per-learner limit reached while doing `what` (e.g. "checking your work").
    pub(crate) fn too_many(what: &str, retry_after: std::time::Duration) -> Self {
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        Error::TooManyRequests {
            message: format!("You are {what} too often: wait {seconds} s and try again."),
            retry_after: std::time::Duration::from_secs(seconds),
        }
    }
}

impl From<sqlx::Error> for Error {
    /// Pages that read the database answer 503 when it fails; the cause goes to the log, never to
    /// the client (SQLite's text can describe the schema and the query).
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(error = %error, "database error");
        Error::Unavailable("the database is not available; try again".to_owned())
    }
}

impl From<crate::labs::RunError> for Error {
    fn from(error: crate::labs::RunError) -> Self {
        use crate::labs::RunError;
        match &error {
            RunError::NotFound(_) => Error::Api(StatusCode::NOT_FOUND, error.to_string()),
            RunError::Cluster(_) => Error::Api(StatusCode::BAD_GATEWAY, error.to_string()),
            RunError::Database(e) => {
                tracing::error!(error = %e, "database error during a lab check");
                Error::Api(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is not available; try again".to_owned(),
                )
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::NotFound(page) => (StatusCode::NOT_FOUND, Html(page)).into_response(),
            Error::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
            }
            Error::Api(status, message) => {
                (status, Json(serde_json::json!({ "error": message }))).into_response()
            }
            Error::Forbidden(message) => {
                (StatusCode::FORBIDDEN, Html(forbidden_page(&message))).into_response()
            }
            Error::TooManyRequests {
                message,
                retry_after,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.as_secs().to_string())],
                Json(serde_json::json!({ "error": message })),
            )
                .into_response(),
            Error::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": message })),
            )
                .into_response(),
        }
    }
}

/// A minimal, self-contained 403 page (the site chrome needs state this conversion does not have).
fn forbidden_page(message: &str) -> String {
    let message = crate::render::escape_html(message);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden</title></head><body><main><h1>Forbidden</h1><p>{message}</p><p><a href=\"/\">Back to the course</a></p></main></body></html>"
    )
}
