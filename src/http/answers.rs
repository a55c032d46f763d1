//! Endpoints for answering assessment questions in place: the learner's current answer, and saving a
//! new version (draft or submission).

use super::filters;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::Error;
use super::paths::QuestionPath;
use super::session::Visitor;
use crate::app::AppState;
use crate::assess::{self, AnswerInput};

/// `GET /api/modules/{module}/questions/{question}/answer`: the current answer, or 204 if none yet.
pub(super) async fn current(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    QuestionPath { module, question }: QuestionPath,
) -> Result<Response, Error> {
    let site = app.site.current();
    Ok(
        match assess::latest(
            &app.db,
            site.course(),
            visitor.learner_id(),
            &module,
            &question,
        )
        .await?
        {
            Some(answer) => Json(answer).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// `POST /api/modules/{module}/questions/{question}/answer`: saves a new version.
pub(super) async fn save(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    QuestionPath { module, question }: QuestionPath,
    headers: HeaderMap,
    Json(input): Json<AnswerInput>,
) -> Result<Json<assess::AnswerView>, Error> {
    visitor.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    app.quotas
        .answer_saves
        .take(visitor.learner_id())
        .map_err(|wait| Error::too_many("saving answers", wait))?;
    let site = app.site.current();
    Ok(Json(
        assess::save(
            &app.db,
            site.course(),
            visitor.learner_id(),
            &module,
            &question,
            input,
        )
        .await?,
    ))
}

#[derive(askama::Template)]
#[template(path = "my_work.html")]
struct MyWorkPage<'a> {
    items: &'a [crate::assess::WorkItem],
}

impl MyWorkPage<'_> {
    /// Whether the item at `index` is its module's first (the page heads each module).
    fn starts_module(&self, index: &usize) -> bool {
        *index == 0 || self.items[*index - 1].module_id != self.items[*index].module_id
    }
}

/// `GET /my-work`: every question with the visitor's answer, state, score and feedback.
pub(super) async fn my_work(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let items = crate::assess::my_work(&app.db, site.course(), visitor.learner_id()).await?;
    let page = MyWorkPage { items: &items };
    let visitor = visitor.with_grades_seen();
    Ok(super::Page::new(&app, "My work", &page, Some(&visitor)).into_response())
}
