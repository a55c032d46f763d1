//! `GET /api/live-reload` under `--watch`: a server-sent event stream that tells open pages the
//! course changed, so they reload themselves. Same origin; it ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::Error;
use crate::app::AppState;
use crate::site::SiteVersion;

/// Streams `version` events: the current site build at once, then each new one. A page reloads
/// when one differs from the build it was rendered from (its `data-build`).
pub(super) async fn events(
    State(app): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    if !app.config.watch {
        return Err(Error::NotFound(
            "Pages reload themselves only under `lectern serve --watch`.".to_owned(),
        ));
    }
    let mut versions = app.site.subscribe();
    versions.mark_changed();
    let stream = futures::stream::unfold(versions, |mut versions| async move {
        versions.changed().await.ok()?;
        let SiteVersion::Current(n) = *versions.borrow_and_update() else {
            return None;
        };
        let event = Event::default()
            .event("version")
            .data(n.to_string())
            .retry(Duration::from_secs(1));
        Some((Ok(event), versions))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
