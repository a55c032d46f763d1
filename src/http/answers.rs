//! Endpoints for answering assessment questions in place: the learner's current answer, and saving a
//! new version (draft or submission).

use super::filters;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::Error;
use super::paths::QuestionPath;
use super::session::{CsrfHeader, Visitor};
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
    CsrfHeader(visitor): CsrfHeader,
    QuestionPath { module, question }: QuestionPath,
    Json(input): Json<AnswerInput>,
) -> Result<Json<assess::AnswerView>, Error> {
    take_answer_save(&app, &visitor)?;
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

/// What `GET …/self-assessment` answers: the rendered model answer beside the rubric.
#[derive(serde::Serialize)]
pub(super) struct SelfAssessmentSheet {
    /// The model answer, rendered as on the instructors' grading page.
    model_answer: String,
    #[serde(flatten)]
    sheet: assess::self_assessment::Sheet,
}

/// Self-assessment is personal mode's answer to "no instructor": in a portal, instructors grade.
fn personal_mode_only(app: &AppState) -> Result<(), Error> {
    if app.config.portal {
        return Err(Error::Forbidden(
            "In this portal an instructor grades written answers; self-assessment is for personal mode."
                .to_owned(),
        ));
    }
    Ok(())
}

/// `GET /api/modules/{module}/questions/{question}/self-assessment`: the model answer and rubric to
/// score a submitted written answer against (personal mode).
pub(super) async fn self_assessment_sheet(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    QuestionPath { module, question }: QuestionPath,
) -> Result<Json<SelfAssessmentSheet>, Error> {
    personal_mode_only(&app)?;
    let site = app.site.current();
    let sheet = assess::self_assessment::sheet(
        &app.db,
        site.course(),
        visitor.learner_id(),
        &module,
        &question,
    )
    .await?;
    let model_answer = site
        .rendered
        .module(&module)
        .and_then(|m| m.grading.iter().find(|g| g.question_id == question))
        .map(|g| g.model_answer.clone())
        .unwrap_or_default();
    Ok(Json(SelfAssessmentSheet {
        model_answer,
        sheet,
    }))
}

/// `POST /api/modules/{module}/questions/{question}/self-assessment`: records the learner's own
/// scores, `{"scores": [..]}`, one per rubric criterion (personal mode).
pub(super) async fn self_assess(
    State(app): State<AppState>,
    CsrfHeader(visitor): CsrfHeader,
    QuestionPath { module, question }: QuestionPath,
    Json(scores): Json<assess::self_assessment::Scores>,
) -> Result<Json<assess::self_assessment::SelfAssessment>, Error> {
    personal_mode_only(&app)?;
    take_answer_save(&app, &visitor)?;
    let site = app.site.current();
    Ok(Json(
        assess::self_assessment::record(
            &app.db,
            site.course(),
            visitor.learner_id(),
            &module,
            &question,
            &scores,
        )
        .await?,
    ))
}

#[derive(askama::Template)]
#[template(path = "my_work.html")]
struct MyWorkPage<'a> {
    items: &'a [crate::assess::WorkItem],
    /// No instructors: written answers are self-assessed.
    personal: bool,
}

impl MyWorkPage<'_> {
    /// Whether the item at `index` is its module's first (the page heads each module).
    fn starts_module(&self, index: &usize) -> bool {
        *index == 0 || self.items[*index - 1].module_id != self.items[*index].module_id
    }

    /// Whether the learner scored this version of their answer themselves (personal mode).
    fn self_assessed(&self, answer: &crate::assess::AnswerView) -> bool {
        answer
            .self_assessment
            .as_ref()
            .is_some_and(|sa| sa.answer_version == answer.version)
    }
}

/// `GET /my-work`: every question with the visitor's answer, state, score and feedback.
pub(super) async fn my_work(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let items = crate::assess::my_work(&app.db, site.course(), visitor.learner_id()).await?;
    let page = MyWorkPage {
        items: &items,
        personal: !app.config.portal,
    };
    let visitor = visitor.with_grades_seen();
    Ok(super::Page::new(&app, "My work", &page, Some(&visitor)).into_response())
}

/// One save from the learner's answer budget, or a 429 that says how long to wait.
fn take_answer_save(app: &AppState, visitor: &Visitor) -> Result<(), Error> {
    app.quotas
        .answer_saves
        .take(visitor.learner_id())
        .map_err(|wait| Error::too_many("saving answers", wait))
}
