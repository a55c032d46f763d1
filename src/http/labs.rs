//! Endpoints for "Check my work": run a step's checks, and fetch the last run to show it again.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Error;
use super::paths::LabStepPath;
use super::session::{CsrfHeader, Visitor};
use crate::app::AppState;
use crate::labs::{self, RecordedRun};
use axum::Extension;

/// `POST /api/labs/{lab}/steps/{step}/check`: runs the checks and records the run.
///
/// Only JSON requests are accepted ([`require_json`]), so another site cannot make a learner's
/// browser run checks.
pub(super) async fn check(
    State(app): State<AppState>,
    CsrfHeader(visitor): CsrfHeader,
    LabStepPath { lab, step }: LabStepPath,
    headers: HeaderMap,
) -> Result<Json<RecordedRun>, Error> {
    require_json(&headers)?;
    app.quotas
        .check_runs
        .take(visitor.learner_id())
        .map_err(|wait| Error::too_many("checking your work", wait))?;
    let site = app.site.current();
    let started = std::time::Instant::now();
    let outcome = labs::check_for_learner(
        &app.reach,
        &app.db,
        site.course(),
        visitor.learner_id(),
        &lab,
        &step,
    )
    .await;
    match &outcome {
        Ok(run) => {
            app.live.checked(visitor.learner_id(), run).await?;
            app.metrics
                .observe_check(run.run.status.as_str(), run.via.as_str(), started.elapsed());
            run.run
                .results
                .iter()
                .filter_map(|r| r.cluster_error)
                .for_each(|kind| app.metrics.count_cluster_error(kind));
        }
        Err(labs::RunError::Cluster(e)) => app.metrics.count_cluster_error(e.kind()),
        Err(_) => {}
    }
    Ok(Json(outcome?))
}

/// `POST /api/cluster/preflight`: "Is my cluster ready?" in a lab's first step: which cluster the
/// learner's checks would ask, its context and Kubernetes version, and each further context the
/// course's checks name; or why it cannot be reached.
/// Same request rules and limit as a check.
pub(super) async fn preflight(
    State(app): State<AppState>,
    CsrfHeader(visitor): CsrfHeader,
    headers: HeaderMap,
) -> Result<Json<labs::ClusterFacts>, Error> {
    require_json(&headers)?;
    app.quotas
        .check_runs
        .take(visitor.learner_id())
        .map_err(|wait| Error::too_many("checking your cluster", wait))?;
    let site = app.site.current();
    let facts = labs::your_cluster(&app.reach, &app.db, site.course(), visitor.learner_id()).await;
    if let Err(labs::RunError::Cluster(e)) = &facts {
        app.metrics.count_cluster_error(e.kind());
    }
    Ok(Json(facts?))
}

/// Refuses anything but a JSON body: a cross-site form cannot send one without a CORS preflight,
/// which Lectern never grants.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), Error> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "send the request as application/json".to_owned(),
        ))
    }
}

/// `GET /api/labs/{lab}/steps/{step}/runs/latest`: the last run, or `204 No Content` when there is none yet.
pub(super) async fn latest(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    LabStepPath { lab, step }: LabStepPath,
) -> Result<Response, Error> {
    let site = app.site.current();
    Ok(
        match labs::last_run(&app.db, site.course(), visitor.learner_id(), &lab, &step).await? {
            Some(run) => Json(run).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}
