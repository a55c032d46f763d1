//! The HTTP layer's error: each variant decides its status, and internals never reach the client.

use axum::http::StatusCode;
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
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::NotFound(page) => (StatusCode::NOT_FOUND, Html(page)).into_response(),
            Error::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
            }
        }
    }
}
