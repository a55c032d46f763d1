//! `GET /api/live-reload?page=PATH` under `--watch`: a server-sent event stream that tells open
//! pages the course changed, so they reload themselves. Same origin; it ends when the server shuts
//! down. Each stream holds a connection, so a learner holds one per page (a reloaded page's new
//! stream replaces the old one, which is told `replaced` and closes) and 16 in all.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;

use super::Error;
use super::session::Visitor;
use crate::app::AppState;
use crate::site::SiteVersion;

/// Query of `GET /api/live-reload`.
#[derive(Deserialize)]
pub(super) struct StreamQuery {
    /// The page the stream is for (its path).
    #[serde(default)]
    page: String,
}

/// Streams `version` events: the current site build at once, then each new one. A page reloads
/// when one differs from the build it was rendered from (its `data-build`).
pub(super) async fn events(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    if !app.config.watch {
        return Err(Error::NotFound(
            "Pages reload themselves only under `lectern serve --watch`.".to_owned(),
        ));
    }
    let page: String = query.page.chars().take(512).collect();
    let slot = app
        .quotas
        .live_reload
        .open(visitor.learner_id(), &page)
        .ok_or_else(|| Error::too_many("keeping pages open to reload", Duration::from_secs(60)))?;
    let mut versions = app.site.subscribe();
    versions.mark_changed();
    let stream = futures::stream::unfold(Some((versions, slot)), |state| async move {
        let (mut versions, mut slot) = state?;
        tokio::select! {
            changed = versions.changed() => {
                changed.ok()?;
                let SiteVersion::Current(n) = *versions.borrow_and_update() else {
                    return None;
                };
                let event = Event::default()
                    .event("version")
                    .data(n.to_string())
                    .retry(Duration::from_secs(1));
                Some((Ok(event), Some((versions, slot))))
            }
            _ = &mut slot.replaced => {
                // The last event; the page's script closes its stream on it.
                Some((Ok(Event::default().event("replaced").data("")), None))
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
