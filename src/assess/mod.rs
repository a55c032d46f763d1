//! Assessments: learners answer a module's questions in place. Every save is kept as a version; choice
//! questions are graded the moment they are submitted, with an explanation for every option.

mod store;

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::content::{Course, Question, QuestionKind};

/// What a learner sends.
#[derive(Debug, Clone, Deserialize)]
pub struct AnswerInput {
    /// The answer to an open question.
    #[serde(default)]
    pub text: Option<String>,
    /// The selected options of a choice question (indexes, from 0).
    #[serde(default)]
    pub choices: Option<Vec<usize>>,
    /// Submit for grading; otherwise a draft (open questions only).
    #[serde(default)]
    pub submit: bool,
}

/// An answer as its author sees it.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    /// `draft` or `submitted` (grading by instructors comes with the grading workflow).
    pub state: String,
    /// 1 for the first save, +1 for each later one.
    pub version: i64,
    /// Open answer.
    pub text: Option<String>,
    /// Selected options.
    pub choices: Option<Vec<usize>>,
    /// Points scored (choice questions, once submitted).
    pub score: Option<u32>,
    /// The question's points.
    pub points: u32,
    /// Per option, after a choice question is submitted: whether it is correct, and why.
    pub feedback: Vec<OptionFeedback>,
    /// When this version was saved.
    pub saved_at: String,
}

/// The explanation of one option, shown after answering.
#[derive(Debug, Clone, Serialize)]
pub struct OptionFeedback {
    /// Whether selecting it is right.
    pub correct: bool,
    /// Whether the learner selected it.
    pub selected: bool,
    /// Why.
    pub explanation: String,
}

/// What can be wrong with an answer; messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such module or question.
    #[error("{0}")]
    NotFound(String),
    /// The answer does not fit the question.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Finds a question of a module.
fn question<'a>(
    course: &'a Course,
    module_id: &str,
    question_id: &str,
) -> Result<&'a Question, Error> {
    let module = course
        .modules
        .iter()
        .find(|m| m.id.as_ref() == module_id)
        .ok_or_else(|| Error::NotFound(format!("there is no module `{module_id}`")))?;
    module
        .questions
        .iter()
        .find(|q| q.id.as_ref() == question_id)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "module `{module_id}` has no question `{question_id}`"
            ))
        })
}

/// Saves a new version of a learner's answer (a draft, or a submission, graded at once for choices).
pub async fn save(
    pool: &SqlitePool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
    input: AnswerInput,
) -> Result<AnswerView, Error> {
    let question = question(course, module_id, question_id)?;
    let (text, choices, score) = match question.kind {
        QuestionKind::Open => {
            let text = input.text.unwrap_or_default();
            if input.choices.is_some() {
                return Err(Error::Invalid(
                    "this is an open question: send `text`, not `choices`".to_owned(),
                ));
            }
            if text.chars().count() > 20_000 {
                return Err(Error::Invalid(
                    "answers are limited to 20,000 characters".to_owned(),
                ));
            }
            if input.submit && text.trim().is_empty() {
                return Err(Error::Invalid(
                    "write an answer before submitting it".to_owned(),
                ));
            }
            (Some(text), None, None)
        }
        QuestionKind::Single | QuestionKind::Multiple => {
            if !input.submit {
                return Err(Error::Invalid(
                    "choice questions are submitted, not saved as drafts".to_owned(),
                ));
            }
            let mut selected = input
                .choices
                .ok_or_else(|| Error::Invalid("select an option".to_owned()))?;
            selected.sort_unstable();
            selected.dedup();
            if let Some(bad) = selected.iter().find(|i| **i >= question.choices.len()) {
                return Err(Error::Invalid(format!(
                    "option {bad} does not exist (the question has {})",
                    question.choices.len()
                )));
            }
            if selected.is_empty() || (question.kind == QuestionKind::Single && selected.len() != 1)
            {
                return Err(Error::Invalid(
                    if question.kind == QuestionKind::Single {
                        "select exactly one option"
                    } else {
                        "select at least one option"
                    }
                    .to_owned(),
                ));
            }
            let right = question
                .choices
                .iter()
                .enumerate()
                .all(|(i, c)| c.correct == selected.contains(&i));
            (
                None,
                Some(selected),
                Some(if right { question.points } else { 0 }),
            )
        }
    };
    let state = if input.submit { "submitted" } else { "draft" };
    store::insert(
        pool,
        learner_id,
        module_id,
        question_id,
        state,
        text.as_deref(),
        choices.as_deref(),
        score,
    )
    .await?;
    latest(pool, course, learner_id, module_id, question_id)
        .await?
        .ok_or_else(|| Error::NotFound("the answer vanished after saving".to_owned()))
}

/// The learner's current (latest) answer to a question, if any.
pub async fn latest(
    pool: &SqlitePool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<AnswerView>, Error> {
    let question = question(course, module_id, question_id)?;
    let Some(row) = store::latest(pool, learner_id, module_id, question_id).await? else {
        return Ok(None);
    };
    let choices: Option<Vec<usize>> = row
        .choices
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let feedback = match (&choices, row.state.as_str()) {
        (Some(selected), "submitted") => question
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| OptionFeedback {
                correct: c.correct,
                selected: selected.contains(&i),
                explanation: c.explanation.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Some(AnswerView {
        state: row.state,
        version: row.version,
        text: row.text,
        choices,
        score: row.auto_score.map(|s| s as u32),
        points: question.points,
        feedback,
        saved_at: row.created_at,
    }))
}

/// The (module, question) pairs the learner has submitted an answer to.
pub async fn answered(
    pool: &SqlitePool,
    learner_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    store::submitted_questions(pool, learner_id).await
}
