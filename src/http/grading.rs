//! Instructor grading: the queue, one answer beside its question, model answer and rubric, saving a
//! grade (then on to the next), and releasing grades. The gradebook is in `gradebook.rs`.

use super::filters;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::session::{CsrfForm, HasCsrf, Instructor, csrf_field};
use super::{Error, Page};
use crate::app::AppState;
use crate::assess::grading::{
    self, GradeInput, GradeStatus, GradingTask, QuestionRelease, QueueEntry, QueueFilter,
};
use crate::assess::{self};
use crate::auth::StaffScope;
use crate::content::Course;
use crate::progress;
use crate::render::GradingMaterial;

/// The queue's filters, carried from page to page so "next" stays within them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(super) struct Filter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    module: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    question: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    learner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cohort: String,
    /// `1`: blind grading, learners' names and cohorts hidden until their answer is graded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    blind: String,
    /// The answer just graded (for a notice; not carried on).
    #[serde(default, skip_serializing)]
    saved: String,
    /// How many questions were just released (for a notice; not carried on).
    #[serde(default, skip_serializing)]
    released: String,
    /// How many releases were just withdrawn (for a notice; not carried on).
    #[serde(default, skip_serializing)]
    withdrawn: String,
}

impl Filter {
    fn domain(&self) -> QueueFilter {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        QueueFilter {
            module: some(&self.module),
            question: some(&self.question),
            learner: some(&self.learner),
            cohort: some(&self.cohort),
        }
    }

    /// `?module=…&…`, or empty when nothing is filtered.
    fn query(&self) -> String {
        let query = serde_urlencoded::to_string(self).unwrap_or_default();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }

    /// Whether names stay hidden until an answer is graded.
    fn blind(&self) -> bool {
        !self.blind.is_empty()
    }

    /// The same filters plus one more parameter.
    fn query_with(&self, name: &str, value: &str) -> String {
        let extra = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
        match self.query().as_str() {
            "" => format!("?{extra}"),
            query => format!("{query}&{extra}"),
        }
    }
}

#[derive(Template)]
#[template(path = "grading_queue.html")]
struct QueuePage<'a> {
    filter: &'a Filter,
    query: String,
    notice: Option<String>,
    modules: Vec<(String, String)>,
    questions: Vec<QuestionRelease>,
    cohorts: Vec<String>,
    entries: &'a [QueueEntry],
    ungraded: usize,
    blind: bool,
    csrf: &'a str,
    /// Whether this grader may release grades (which reach every cohort): not an instructor whose
    /// role is their course's only.
    may_release: bool,
}

#[derive(Template)]
#[template(path = "grading_answer.html")]
struct AnswerPage<'a> {
    task: &'a GradingTask,
    material: Option<&'a GradingMaterial>,
    model_answer_missing: bool,
    notice: Option<String>,
    error: Option<&'a str>,
    scores: Vec<String>,
    feedback: &'a str,
    query: String,
    csrf: &'a str,
    /// The next answer waiting after this one, for "Skip".
    next: Option<i64>,
    /// Blind grading hides who wrote this answer (until it is graded).
    anonymous: bool,
}

impl AnswerPage<'_> {
    fn prefilled(&self, index: &usize) -> &str {
        self.scores.get(*index).map_or("", String::as_str)
    }

    /// The prefilled scores' sum, the running total before any change.
    fn total(&self) -> u32 {
        self.scores
            .iter()
            .filter_map(|s| s.parse::<u32>().ok())
            .sum()
    }

    fn criterion_scores(&self, scores: &[Option<u32>]) -> String {
        scores
            .iter()
            .map(|s| s.map_or("–".to_owned(), |s| s.to_string()))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// `POST /instructor/grading/withdraw`: learners stop seeing a question's (or a module's) grades.
pub(super) async fn withdraw(
    State(app): State<AppState>,
    staff: Instructor,
    Query(filter): Query<Filter>,
    CsrfForm(form): CsrfForm<ReleaseForm>,
) -> Result<Response, Error> {
    let site = app.site.current();
    releases_are_for_the_portal(&staff)?;
    let question = form.question();
    let withdrawn =
        grading::withdraw(&app.db, site.course(), &form.release_module, question).await?;
    let to = format!(
        "/instructor/grading{}",
        filter.query_with("withdrawn", &withdrawn.to_string())
    );
    Ok(Redirect::to(&to).into_response())
}

/// Every module as (id, title), for the filters.
pub(super) fn module_choices(course: &Course) -> Vec<(String, String)> {
    course
        .modules
        .iter()
        .map(|m| (m.id.to_string(), m.title.clone()))
        .collect()
}

/// `GET /instructor/grading`: the queue.
pub(super) async fn queue(
    State(app): State<AppState>,
    staff: Instructor,
    Query(filter): Query<Filter>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let session = &staff.session;
    let course = &site.course();
    let entries = grading::queue(&app.db, course, staff.scope, &filter.domain()).await?;
    let may_release = staff.scope == StaffScope::Portal;
    let notice = match (filter.saved.is_empty(), filter.released.as_str()) {
        _ if !filter.withdrawn.is_empty() => Some(format!(
            "Withdrew the release of {} question{}: learners no longer see those grades.",
            filter.withdrawn,
            if filter.withdrawn == "1" { "" } else { "s" }
        )),
        (_, "1") => Some("Released the grades of 1 question: learners see them now.".to_owned()),
        (_, n) if !n.is_empty() => Some(format!(
            "Released the grades of {n} questions: learners see them now."
        )),
        (false, _) => Some("Grade saved. No ungraded answers are left in this view.".to_owned()),
        (true, _) => None,
    };
    let page = QueuePage {
        filter: &filter,
        query: filter.query(),
        notice,
        modules: module_choices(course),
        questions: if may_release {
            grading::question_releases(&app.db, course).await?
        } else {
            Vec::new()
        },
        may_release,
        cohorts: progress::cohorts(&app.db, staff.scope).await?,
        ungraded: entries
            .iter()
            .filter(|e| e.status != GradeStatus::Graded)
            .count(),
        entries: &entries,
        blind: filter.blind(),
        csrf: &session.csrf_token,
    };
    Ok(Page::new(&app, "Grading", &page, Some(&staff.visitor)).into_response())
}

/// What the grader sees on one answer, with the scores and feedback to prefill.
struct Prefill<'a> {
    /// The next answer waiting after this one.
    next: Option<i64>,
    notice: Option<String>,
    error: Option<&'a str>,
    scores: Vec<String>,
    feedback: String,
}

fn answer_page(
    app: &AppState,
    staff: &Instructor,
    status: StatusCode,
    task: &GradingTask,
    filter: &Filter,
    prefill: Prefill<'_>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let session = &staff.session;
    let material = site.rendered.module(&task.entry.module_id).and_then(|m| {
        m.grading
            .iter()
            .find(|g| g.question_id == task.entry.question_id)
    });
    let anonymous = filter.blind() && task.entry.status != GradeStatus::Graded;
    let page = AnswerPage {
        next: prefill.next,
        anonymous,
        task,
        material,
        model_answer_missing: material.is_none_or(|m| m.model_answer.is_empty()),
        notice: prefill.notice,
        error: prefill.error,
        scores: prefill.scores,
        feedback: &prefill.feedback,
        query: filter.query(),
        csrf: &session.csrf_token,
    };
    let title = if anonymous {
        format!(
            "Grading answer {} · Q{}",
            task.entry.answer_id, task.entry.question_number
        )
    } else {
        format!(
            "Grading {} · Q{}",
            task.entry.username, task.entry.question_number
        )
    };
    Ok(Page::new(app, &title, &page, Some(&staff.visitor))
        .with_status(status)
        .into_response())
}

/// `GET /instructor/grading/answers/{id}`: one answer beside its question, model answer and rubric.
pub(super) async fn answer(
    State(app): State<AppState>,
    staff: Instructor,
    Path(answer_id): Path<i64>,
    Query(filter): Query<Filter>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let course = site.course();
    let task = grading::task(&app.db, course, staff.scope, answer_id).await?;
    let queue = grading::queue(&app.db, course, staff.scope, &filter.domain()).await?;
    let next = grading::next_waiting(&queue, answer_id).map(|e| e.answer_id);
    // Regrading starts from the current grade when its rubric is still the current one.
    let (scores, feedback) = match task.history.first() {
        Some(g) if g.rubric_version == task.rubric.version => (
            g.scores
                .iter()
                .map(|s| s.map(|s| s.to_string()).unwrap_or_default())
                .collect(),
            g.feedback.clone(),
        ),
        Some(g) => (Vec::new(), g.feedback.clone()),
        None => (Vec::new(), String::new()),
    };
    let notice = match filter.saved.as_str() {
        "" => None,
        saved if saved == answer_id.to_string() => Some("Grade saved.".to_owned()),
        _ => Some("Grade saved. This is the next answer waiting in your view.".to_owned()),
    };
    answer_page(
        &app,
        &staff,
        StatusCode::OK,
        &task,
        &filter,
        Prefill {
            next,
            notice,
            error: None,
            scores,
            feedback,
        },
    )
}

/// `POST /instructor/grading/answers/{id}`: saves a grade and moves on to the next answer waiting
/// after it (or stays, for the "Save and stay" button: `then=stay`), or shows the conflict (with
/// the grader's scores kept in the form) if someone else changed it first.
pub(super) async fn save_grade(
    State(app): State<AppState>,
    staff: Instructor,
    Path(answer_id): Path<i64>,
    Query(filter): Query<Filter>,
    CsrfForm(GradeFields(fields)): CsrfForm<GradeFields>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let session = &staff.session;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let raw_scores: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n == "score")
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    let feedback = field("feedback").replace("\r\n", "\n");
    let course = &site.course();
    // The next answer is the one after this in the queue as the grader saw it, before this one
    // moves to the graded end.
    let queue = grading::queue(&app.db, course, staff.scope, &filter.domain()).await?;
    let next = grading::next_waiting(&queue, answer_id).map(|e| e.answer_id);
    let outcome = match GradeInput::parse(
        field("revision"),
        field("rubric_version"),
        &raw_scores,
        &feedback,
    ) {
        Ok(input) => {
            grading::grade(
                &app.db,
                course,
                session.user.learner_id,
                staff.scope,
                answer_id,
                input,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (status, message) = match outcome {
        Ok(_) => {
            let saved = answer_id.to_string();
            let next = if field("then") == "stay" {
                Some(answer_id)
            } else {
                next
            };
            let to = match next {
                Some(next) => format!(
                    "/instructor/grading/answers/{next}{}",
                    filter.query_with("saved", &saved)
                ),
                None => format!("/instructor/grading{}", filter.query_with("saved", &saved)),
            };
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e @ (assess::AssessError::Conflict(_) | assess::AssessError::Invalid(_))) => {
            let error = Error::from(e);
            (error.status(), error.to_string())
        }
        Err(e) => return Err(e.into()),
    };
    let task = grading::task(&app.db, course, staff.scope, answer_id).await?;
    answer_page(
        &app,
        &staff,
        status,
        &task,
        &filter,
        Prefill {
            next,
            notice: None,
            error: Some(&message),
            scores: raw_scores,
            feedback,
        },
    )
}

/// The grading form's fields in order (a `score` per criterion), with its CSRF token among them.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct GradeFields(Vec<(String, String)>);

impl HasCsrf for GradeFields {
    fn csrf(&self) -> &str {
        self.0
            .iter()
            .find(|(name, _)| name == "csrf")
            .map_or("", |(_, value)| value.as_str())
    }
}

csrf_field!(ReleaseForm);

/// Form of `POST /instructor/grading/release` and `/withdraw`.
#[derive(Debug, Deserialize)]
pub(super) struct ReleaseForm {
    csrf: String,
    release_module: String,
    #[serde(default)]
    release_question: String,
    /// `yes` once the instructor has seen what the release publishes.
    #[serde(default)]
    confirm: String,
}

impl ReleaseForm {
    /// The question released or withdrawn; `None` for every question of the module.
    fn question(&self) -> Option<&str> {
        Some(self.release_question.as_str()).filter(|q| !q.is_empty())
    }
}

#[derive(Template)]
#[template(path = "grading_release_confirm.html")]
struct ConfirmPage<'a> {
    preview: &'a grading::ReleasePreview,
    form: &'a ReleaseForm,
    query: String,
}

/// `POST /instructor/grading/release`: learners see the grades of a question, or a whole module.
pub(super) async fn release(
    State(app): State<AppState>,
    staff: Instructor,
    Query(filter): Query<Filter>,
    CsrfForm(form): CsrfForm<ReleaseForm>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let session = &staff.session;
    releases_are_for_the_portal(&staff)?;
    let question = form.question();
    if form.confirm != "yes" {
        // Say what would be published, and ask.
        let preview =
            grading::release_preview(&app.db, site.course(), &form.release_module, question)
                .await?;
        let page = ConfirmPage {
            preview: &preview,
            form: &form,
            query: filter.query(),
        };
        return Ok(Page::new(&app, "Release grades?", &page, Some(&staff.visitor)).into_response());
    }
    let released = grading::release(
        &app.db,
        site.course(),
        session.user.learner_id,
        &form.release_module,
        question,
    )
    .await?;
    let to = format!(
        "/instructor/grading{}",
        filter.query_with("released", &released.to_string())
    );
    Ok(Redirect::to(&to).into_response())
}

/// Releases and withdrawals reach every cohort, so an instructor whose role is their course's only
/// (an LTI Instructor) may not make them.
fn releases_are_for_the_portal(staff: &Instructor) -> Result<(), Error> {
    if staff.scope == StaffScope::Portal {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Releasing grades publishes them to every cohort, so it is for instructors of the whole portal; ask an admin to release this question.".to_owned(),
        ))
    }
}
