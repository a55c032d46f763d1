//! Prometheus metrics over HTTP: the middleware that times every request by its route pattern,
//! and the `/metrics` endpoint (on the main address, or alone on `--metrics-address`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Error;
use crate::app::AppState;

/// Times the request and counts it under its route pattern (`unmatched` for the 404 fallback,
/// so a scanner's paths cannot grow the series without bound).
pub(super) async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    app.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics` on the main address: 404 when metrics have their own address.
pub(super) async fn on_main_address(State(app): State<AppState>) -> Result<Response, Error> {
    if app.config.metrics_address.is_some() {
        return Err(Error::NotFound(
            "Metrics are served on the metrics address (--metrics-address).".to_owned(),
        ));
    }
    Ok(scrape(State(app)).await)
}

/// The metrics as OpenMetrics text (from memory when the database does not answer).
async fn scrape(State(app): State<AppState>) -> Response {
    let text = app
        .metrics
        .render(&app.db, app.config.session_policy().idle)
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The router of `--metrics-address`: `/metrics` alone. It holds the app weakly, so a server
/// that stops is not kept alive (nor its database lock held) by its metrics listener.
pub fn router(app: &AppState) -> axum::Router {
    let app = std::sync::Arc::downgrade(app);
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            match app.upgrade() {
                Some(app) => Ok(scrape(State(app)).await),
                None => Err(Error::Unavailable("the server is stopping".to_owned())),
            }
        }),
    )
}
