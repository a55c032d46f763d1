//! Assessments: learners answer a module's questions in place. Every save is kept as a version; choice
//! questions are graded the moment they are submitted, with an explanation for every option; open
//! answers are graded by instructors against a versioned rubric ([`grading`], [`rubrics`]) and
//! reach learners once released.

pub mod grading;
pub mod rubrics;
pub mod self_assessment;
mod store;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

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
    /// `draft`, `submitted`, or `graded` (choice questions once submitted; open ones once an
    /// instructor's grade is released).
    pub state: String,
    /// No further versions are accepted: a choice question was submitted, or an instructor graded it.
    pub locked: bool,
    /// 1 for the first save, +1 for each later one.
    pub version: i64,
    /// Open answer.
    pub text: Option<String>,
    /// Selected options.
    pub choices: Option<Vec<usize>>,
    /// Points scored (choice questions once submitted; open ones once the grade is released).
    pub score: Option<u32>,
    /// The question's points.
    pub points: u32,
    /// Per option, after a choice question is submitted: whether it is correct, and why.
    pub feedback: Vec<OptionFeedback>,
    /// When this version was saved.
    pub saved_at: String,
    /// The instructor's grade of an open answer, once released.
    pub grade: Option<ReleasedGrade>,
    /// The learner's own scores against the rubric (personal mode), never an instructor's grade.
    pub self_assessment: Option<self_assessment::SelfAssessment>,
}

/// An instructor's grade as the learner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ReleasedGrade {
    /// Per rubric criterion.
    pub criteria: Vec<CriterionScore>,
    /// The instructor's feedback (plain text).
    pub feedback: String,
    /// When it was given.
    pub graded_at: String,
}

/// One rubric line of a grade.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CriterionScore {
    /// What the answer had to show.
    pub criterion: String,
    /// Points scored (`None`: not scored).
    pub score: Option<u32>,
    /// Points available.
    pub points: u32,
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
pub enum AssessError {
    /// No such module or question.
    #[error("{0}")]
    NotFound(String),
    /// The answer does not fit the question.
    #[error("{0}")]
    Invalid(String),
    /// Someone else changed it first (another grader, the learner, a rubric correction), or it is
    /// no longer open to changes; nothing was saved.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Finds a question of a module.
fn question<'a>(
    course: &'a Course,
    module_id: &str,
    question_id: &str,
) -> Result<&'a Question, AssessError> {
    course
        .module(module_id)
        .ok_or_else(|| AssessError::NotFound(format!("there is no module `{module_id}`")))?;
    course
        .question(module_id, question_id)
        .map(|(_, question)| question)
        .ok_or_else(|| {
            AssessError::NotFound(format!(
                "module `{module_id}` has no question `{question_id}`"
            ))
        })
}

/// Saves a new version of a learner's answer (a draft, or a submission, graded at once for choices).
pub async fn save(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
    input: AnswerInput,
) -> Result<AnswerView, AssessError> {
    let question = question(course, module_id, question_id)?;
    let (text, choices, score) = match question.kind {
        QuestionKind::Open => {
            let text = input.text.unwrap_or_default();
            if input.choices.is_some() {
                return Err(AssessError::Invalid(
                    "this is an open question: send `text`, not `choices`".to_owned(),
                ));
            }
            if text.chars().count() > 20_000 {
                return Err(AssessError::Invalid(
                    "answers are limited to 20,000 characters".to_owned(),
                ));
            }
            if input.submit && text.trim().is_empty() {
                return Err(AssessError::Invalid(
                    "write an answer before submitting it".to_owned(),
                ));
            }
            (Some(text), None, None)
        }
        QuestionKind::Single | QuestionKind::Multiple => {
            if !input.submit {
                return Err(AssessError::Invalid(
                    "choice questions are submitted, not saved as drafts".to_owned(),
                ));
            }
            let mut selected = input
                .choices
                .ok_or_else(|| AssessError::Invalid("select an option".to_owned()))?;
            selected.sort_unstable();
            selected.dedup();
            if let Some(bad) = selected.iter().find(|i| **i >= question.choices.len()) {
                return Err(AssessError::Invalid(format!(
                    "option {bad} does not exist (the question has {})",
                    question.choices.len()
                )));
            }
            if selected.is_empty() || (question.kind == QuestionKind::Single && selected.len() != 1)
            {
                return Err(AssessError::Invalid(
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
    let once = !question.kind.is_instructor_graded();
    let saved = store::insert(
        pool,
        store::NewAnswer {
            learner_id,
            module_id,
            question_id,
            state,
            text: text.as_deref(),
            choices: choices.as_deref(),
            auto_score: score,
            once,
        },
    )
    .await?;
    let Some(saved) = saved else {
        return Err(AssessError::Conflict(
            if once {
                "you have already answered this question; choice questions are answered once"
            } else {
                "an instructor has graded this answer, so it can no longer be changed"
            }
            .to_owned(),
        ));
    };
    // A version that could be saved has no instructor's grade yet.
    Ok(view(question, saved, None))
}

/// The learner's current answer to a question, if any: the graded submission once there is one,
/// otherwise the latest version.
pub async fn latest(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<AnswerView>, AssessError> {
    let question = question(course, module_id, question_id)?;
    let graded = store::graded_submission(pool, learner_id, module_id, question_id).await?;
    let row = match &graded {
        Some(graded) => graded.answer.clone(),
        None => match store::latest(pool, learner_id, module_id, question_id).await? {
            Some(row) => row,
            None => return Ok(None),
        },
    };
    let released = match graded {
        Some(graded) if graded.released => {
            let criteria = rubrics::version_criteria(
                pool,
                module_id,
                question_id,
                graded.grade.rubric_version,
            )
            .await?;
            Some(Some((graded.grade, criteria)))
        }
        Some(_) => Some(None),
        None => None,
    };
    let mut answer = view(question, row, released);
    if question.kind.is_instructor_graded() {
        answer.self_assessment =
            self_assessment::latest(pool, learner_id, module_id, question_id).await?;
    }
    Ok(Some(answer))
}

/// An answer as its author sees it. `graded` is `None` before an instructor graded it, `Some(None)`
/// once graded but not released, and the grade with its rubric's criteria once released.
fn view(
    question: &Question,
    row: store::AnswerRow,
    graded: Option<Option<(store::GradeRow, Vec<rubrics::RubricCriterion>)>>,
) -> AnswerView {
    let choices: Option<Vec<usize>> = row
        .choices
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let submitted = row.state == "submitted";
    let feedback = match (&choices, submitted) {
        (Some(selected), true) => question
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
    let instructor_graded = graded.is_some();
    let grade = graded.flatten().map(|(g, criteria)| {
        let scores: Vec<Option<u32>> = serde_json::from_str(&g.scores).unwrap_or_default();
        (
            g.score as u32,
            ReleasedGrade {
                criteria: criteria
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| CriterionScore {
                        criterion: c.criterion,
                        score: scores.get(i).copied().flatten(),
                        points: c.points,
                    })
                    .collect(),
                feedback: g.feedback,
                graded_at: g.graded_at,
            },
        )
    });
    let is_choice = !question.kind.is_instructor_graded();
    let state = match (submitted, is_choice || grade.is_some()) {
        (false, _) => "draft",
        (true, false) => "submitted",
        (true, true) => "graded",
    };
    AnswerView {
        state: state.to_owned(),
        locked: (submitted && is_choice) || instructor_graded,
        version: row.version,
        text: row.text,
        choices,
        score: match &grade {
            Some((score, _)) => Some(*score),
            None => row.auto_score.map(|s| s as u32),
        },
        points: question.points,
        feedback,
        saved_at: row.created_at,
        grade: grade.map(|(_, g)| g),
        self_assessment: None,
    }
}

/// What a learner can see of a submitted answer's grade.
#[derive(Debug, Clone, Default)]
pub struct VisibleScore {
    /// A choice question's score at once, an open one's once its grade is released; `None` while
    /// it waits for an instructor.
    pub score: Option<u32>,
    /// The instructor's comment on a released grade, when they wrote one.
    pub comment: Option<String>,
}

/// Every question the learner has submitted an answer to, with the score they can see, in one
/// query (progress and grade passback ask it once per learner, not once per question).
pub async fn submitted(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<HashMap<(String, String), VisibleScore>, sqlx::Error> {
    Ok(store::submitted_scores(pool, learner_id)
        .await?
        .into_iter()
        .map(|r| {
            let released = r.grade.filter(|_| r.released);
            let visible = VisibleScore {
                score: r.auto_score.or(released).map(|s| s as u32),
                comment: r
                    .feedback
                    .filter(|f| released.is_some() && !f.trim().is_empty())
                    .map(|f| f.trim().to_owned()),
            };
            ((r.module_id, r.question_id), visible)
        })
        .collect())
}

/// The current state of one answered question, for reports.
#[derive(Debug, Clone)]
pub struct Answered {
    /// A choice question's score.
    pub auto_score: Option<u32>,
    /// An open question's current grade: score, rubric version, per-criterion scores.
    pub grade: Option<(u32, i64, Vec<Option<u32>>)>,
}

/// Each learner's latest submitted answer per question, with its current grade, keyed by
/// (learner, module, question).
pub async fn current_submissions(
    pool: &AnyPool,
) -> Result<HashMap<(i64, String, String), Answered>, sqlx::Error> {
    let rows = store::current_submissions(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let grade = match (r.score, r.rubric_version) {
                (Some(score), Some(version)) => Some((
                    score as u32,
                    version,
                    r.scores
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default(),
                )),
                _ => None,
            };
            (
                (r.learner_id, r.module_id, r.question_id),
                Answered {
                    auto_score: r.auto_score.map(|s| s as u32),
                    grade,
                },
            )
        })
        .collect())
}

/// One question of the course as its learner's "My work" page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    /// The module's id (for the link to the question).
    pub module_id: String,
    /// The module's title.
    pub module_title: String,
    /// The question's id.
    pub question_id: String,
    /// Its number in the module, from 1.
    pub number: usize,
    /// Its points.
    pub points: u32,
    /// Whether an instructor grades it (open questions).
    pub instructor_graded: bool,
    /// The learner's current answer, if any.
    pub answer: Option<AnswerView>,
    /// The model answer (its Markdown source), when the question shows it to learners
    /// (`show_model_answer`) and the learner's own answer was graded and released: to compare,
    /// never before, and never to someone who submits only after seeing others' grades.
    pub model_answer: Option<String>,
    /// Its instructor grade reached the learner since they last opened My work.
    pub newly_graded: bool,
    /// The question's prompt in one short line.
    pub summary: String,
}

/// How many instructor grades reached the learner since they last opened My work (the badge).
pub async fn unseen_grades(pool: &AnyPool, learner_id: i64) -> Result<usize, AssessError> {
    Ok(store::unseen_grades(pool, learner_id).await?.len())
}

/// Every question of the course with the learner's answer, state, score and feedback, marking the
/// grades that are new to them; from now on those count as seen.
pub async fn my_work(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
) -> Result<Vec<WorkItem>, AssessError> {
    let released = grading::released(pool).await?;
    let unseen = store::unseen_grades(pool, learner_id).await?;
    store::mark_work_seen(pool, learner_id).await?;
    let mut items = Vec::new();
    for module in &course.modules {
        for (i, question) in module.questions.iter().enumerate() {
            let answer = latest(
                pool,
                course,
                learner_id,
                module.id.as_ref(),
                question.id.as_ref(),
            )
            .await?;
            let is_released = released.contains(&(module.id.to_string(), question.id.to_string()));
            let graded = answer.as_ref().is_some_and(|a| a.grade.is_some());
            items.push(WorkItem {
                module_id: module.id.to_string(),
                module_title: module.title.clone(),
                question_id: question.id.to_string(),
                number: i + 1,
                points: question.points,
                instructor_graded: question.kind.is_instructor_graded(),
                model_answer: question
                    .model_answer
                    .as_ref()
                    .filter(|_| question.show_model_answer && graded && is_released)
                    .map(|m| m.text.trim().to_owned()),
                answer,
                newly_graded: unseen
                    .iter()
                    .any(|(m, q)| m == module.id.as_ref() && q == question.id.as_ref()),
                summary: question.summary(),
            });
        }
    }
    Ok(items)
}
