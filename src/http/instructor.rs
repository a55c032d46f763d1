//! Endpoints for instructors: the cohort table, one learner's history with its evidence, and where a
//! cohort is stuck. Learners get 403; a learner id that is not a learner's is a 404.

use super::filters;
use askama::Template;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;

use super::session::Instructor;
use super::{Error, Page};
use crate::app::AppState;
use crate::clock;
use crate::progress::{self, CohortPicture};
use crate::reports::standing::{self, LearnerRecord, LearnerStanding};

/// Filters of the cohort views.
#[derive(Debug, Deserialize)]
pub(super) struct Filter {
    cohort: Option<String>,
    name: Option<String>,
    /// Days without activity after which the cohort table flags a learner.
    inactive: Option<String>,
}

impl Filter {
    fn cohort(&self) -> Option<&str> {
        self.cohort.as_deref().filter(|c| !c.is_empty())
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref().filter(|n| !n.is_empty())
    }

    /// The inactivity threshold in days (1 to 365), [`standing::INACTIVE_AFTER_DAYS`] if not given.
    fn inactive_days(&self) -> Result<i64, Error> {
        match self
            .inactive
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            None => Ok(standing::INACTIVE_AFTER_DAYS),
            Some(days) => days
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "“inactive” is a number of days from 1 to 365, not “{days}”"
                    ))
                }),
        }
    }
}

#[derive(Template)]
#[template(path = "instructor_cohort.html")]
struct CohortPage<'a> {
    cohorts: &'a [String],
    selected: &'a str,
    name: &'a str,
    inactive_days: i64,
    modules: Vec<&'a str>,
    rows: &'a [LearnerStanding],
}

#[derive(Template)]
#[template(path = "instructor_learner.html")]
struct LearnerPage<'a> {
    record: &'a LearnerRecord,
}

#[derive(Template)]
#[template(path = "instructor_stuck.html")]
struct StuckPage<'a> {
    selected: &'a str,
    picture: &'a CohortPicture,
}

impl StuckPage<'_> {
    /// A share of the cohort, in whole percent, for the funnel's bars.
    fn percent(&self, n: &usize) -> usize {
        (*n * 100).checked_div(self.picture.learners).unwrap_or(0)
    }
}

/// `GET /instructor/cohort?cohort=&name=&inactive=`.
pub(super) async fn cohort(
    State(app): State<AppState>,
    staff: Instructor,
    Query(filter): Query<Filter>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let course = &site.course();
    let inactive_days = filter.inactive_days()?;
    let rows = standing::learners(
        &app.db,
        course,
        staff.scope,
        filter.cohort(),
        filter.name(),
        clock::unix_seconds(),
    )
    .await?;
    let cohorts = progress::cohorts(&app.db, staff.scope).await?;
    let page = CohortPage {
        cohorts: &cohorts,
        selected: filter.cohort().unwrap_or(""),
        name: filter.name().unwrap_or(""),
        inactive_days,
        modules: course.modules.iter().map(|m| m.title.as_str()).collect(),
        rows: &rows,
    };
    Ok(Page::new(&app, "Cohort", &page, Some(&staff.visitor)).into_response())
}

/// `GET /instructor/learners/{id}`: one learner's answers and grades, and every check run with its
/// evidence.
pub(super) async fn learner(
    State(app): State<AppState>,
    staff: Instructor,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let Some(record) = standing::record(&app.db, site.course(), staff.scope, id).await? else {
        return Err(Error::NotFound(format!(
            "There is no learner with id {id}."
        )));
    };
    let page = LearnerPage { record: &record };
    Ok(Page::new(&app, &record.username, &page, Some(&staff.visitor)).into_response())
}

/// `GET /instructor/stuck?cohort=`.
/// `GET /api/instructor/live`: the live board's event stream: a `changed` event (its data the
/// newest run's id) whenever a run is recorded, on this server or another sharing the database,
/// so an open "Where the cohort is" page redraws itself.
pub(super) async fn live_board(
    State(app): State<AppState>,
    staff: Instructor,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let slot = app
        .quotas
        .live_checks
        .open(staff.visitor.learner_id(), "instructor board")
        .ok_or_else(|| Error::too_many("following the live board", Duration::from_secs(60)))?;
    let mut runs = app.runs.subscribe();
    runs.borrow_and_update();
    let stream = futures::stream::unfold(Some((runs, slot)), |state| async move {
        let (mut runs, mut slot) = state?;
        tokio::select! {
            changed = runs.changed() => {
                changed.ok()?;
                let newest = *runs.borrow_and_update();
                Some((Ok(Event::default().event("changed").data(newest.to_string())), Some((runs, slot))))
            }
            _ = &mut slot.replaced => Some((Ok(Event::default().event("replaced").data("")), None)),
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub(super) async fn stuck(
    State(app): State<AppState>,
    staff: Instructor,
    Query(filter): Query<Filter>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let picture =
        progress::cohort_picture(&app.db, site.course(), staff.scope, filter.cohort()).await?;
    let page = StuckPage {
        selected: filter.cohort().unwrap_or(""),
        picture: &picture,
    };
    Ok(Page::new(&app, "Where the cohort is", &page, Some(&staff.visitor)).into_response())
}
