//! The live checks' endpoints: `POST /api/labs/{lab}/steps/{step}/start` starts a step (the
//! learner's "Start"), and `GET /api/labs/{lab}/live` streams a lab's verdicts to a page as
//! server-sent events (the README documents the events). A learner holds one stream per page,
//! 16 in all.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use futures::Stream;
use serde::Deserialize;

use super::Error;
use super::paths::{LabPath, LabStepPath};
use super::session::{CsrfHeader, Visitor};
use crate::app::AppState;
use crate::live::Update;

/// What `start` answers.
#[derive(serde::Serialize)]
pub(super) struct Started {
    lab: String,
    step: String,
    /// When the step started (UTC, RFC 3339).
    started_at: String,
}

/// `POST /api/labs/{lab}/steps/{step}/start`: starts (or restarts) the step and follows it live.
/// JSON only, as "Check my work" ([`super::labs::require_json`]).
pub(super) async fn start(
    State(app): State<AppState>,
    CsrfHeader(visitor): CsrfHeader,
    LabStepPath { lab, step }: LabStepPath,
    headers: HeaderMap,
) -> Result<Json<Started>, Error> {
    super::labs::require_json(&headers)?;
    let started_at = app.live.start(visitor.learner_id(), &lab, &step).await?;
    Ok(Json(Started {
        lab,
        step,
        started_at,
    }))
}

/// Query of `GET /api/labs/{lab}/live`.
#[derive(Deserialize)]
pub(super) struct FollowQuery {
    /// The page the stream is for (its path): a reloaded page's stream replaces the old one.
    #[serde(default)]
    page: String,
}

/// `GET /api/labs/{lab}/live`: each followed step's state at once, then every update.
pub(super) async fn follow(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    LabPath(lab): LabPath,
    Query(query): Query<FollowQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let page: String = query.page.chars().take(512).collect();
    let slot = app
        .quotas
        .live_checks
        .open(visitor.learner_id(), &format!("{lab} {page}"))
        .ok_or_else(|| Error::too_many("following live checks", Duration::from_secs(60)))?;
    let mut subscription = app.live.subscribe(visitor.learner_id(), &lab).await?;
    let initial: Vec<Update> = std::mem::take(&mut subscription.initial);
    let first = futures::stream::iter(initial.into_iter().map(|u| Ok(event(&u))));
    let rest = futures::stream::unfold(Some((subscription, slot)), |state| async move {
        let (mut subscription, mut slot) = state?;
        tokio::select! {
            update = subscription.next() => {
                let update = update?;
                Some((Ok(event(&update)), Some((subscription, slot))))
            }
            _ = &mut slot.replaced => Some((Ok(Event::default().event("replaced").data("")), None)),
        }
    });
    Ok(Sse::new(futures::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default()))
}

fn event(update: &Update) -> Event {
    Event::default()
        .event(update.name())
        .data(serde_json::to_string(update).unwrap_or_default())
}
