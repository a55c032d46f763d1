//! Endpoints for orchestrators: liveness and readiness.

use std::time::Duration;

use axum::extract::State;

use super::Error;
use crate::app::AppState;
use crate::db;

/// Readiness must answer quickly even when the database does not.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`: the process is up and serving.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers, has Lectern's schema and took the last writes, and the server
/// is not shutting down.
pub(super) async fn readyz(State(app): State<AppState>) -> Result<&'static str, Error> {
    if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::Unavailable(
            "shutting down: finishing requests in flight".to_owned(),
        ));
    }
    if let Some(cause) = app.write_health.recent_failure() {
        return Err(Error::Unavailable(format!(
            "the database cannot write: {cause}"
        )));
    }
    match tokio::time::timeout(READY_TIMEOUT, db::is_ready(&app.db)).await {
        Ok(Ok(())) => Ok("ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(Error::Unavailable(
                "database unavailable: see the server's log".to_owned(),
            ))
        }
        Err(_) => Err(Error::Unavailable(
            "database did not answer within 2 s".to_owned(),
        )),
    }
}
