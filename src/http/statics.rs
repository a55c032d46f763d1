//! Endpoint for Lectern's own static files: fingerprinted URLs are immutable, plain ones revalidate.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::Error;
use super::pages::cached;
use crate::app::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// `/static/{path}`.
pub(super) async fn serve(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let Some(asset) = app.assets.get(uri.path()) else {
        return Err(Error::NotFound(format!(
            "There is no file at {}.",
            uri.path()
        )));
    };
    let cache = if asset.immutable {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    Ok(cached(
        &headers,
        &asset.etag,
        cache,
        &asset.content_type,
        asset.body.clone(),
    ))
}
