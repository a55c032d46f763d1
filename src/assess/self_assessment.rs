//! Self-assessment (personal mode): after submitting a written answer, the learner reads the model
//! answer and scores their answer against the rubric. It is recorded as *self-assessed*, in its own
//! table, and never counts as, or mixes with, an instructor's grade.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::{AssessError, CriterionScore, question, store};
use crate::content::Course;

/// The learner's own scores for one submitted version of their answer.
#[derive(Debug, Clone, Serialize)]
pub struct SelfAssessment {
    /// The answer version it scores.
    pub answer_version: i64,
    /// Per rubric criterion, as the learner scored it.
    pub criteria: Vec<CriterionScore>,
    /// Their total.
    pub score: u32,
    /// The question's points.
    pub points: u32,
    /// When.
    pub assessed_at: String,
}

/// What a learner scores against: the rubric, and their latest self-assessment if any. (The model
/// answer, rendered, comes from the site.)
#[derive(Debug, Clone, Serialize)]
pub struct Sheet {
    /// Each criterion and its points.
    pub rubric: Vec<CriterionScore>,
    /// The question's points.
    pub points: u32,
    /// The version of the answer being scored.
    pub answer_version: i64,
    /// The latest self-assessment, if any.
    pub current: Option<SelfAssessment>,
}

/// A self-assessment as submitted: one score per rubric criterion, in order.
#[derive(Debug, Deserialize)]
pub struct Scores {
    /// Points given for each criterion.
    pub scores: Vec<u32>,
}

/// The rubric to score a submitted written answer against. Refused for choice questions (Lectern
/// grades those) and before the answer is submitted (the model answer must not help write it).
pub async fn sheet(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Sheet, AssessError> {
    let question = question(course, module_id, question_id)?;
    if !question.kind.is_instructor_graded() {
        return Err(AssessError::Invalid(
            "choice questions are graded by Lectern, not self-assessed".to_owned(),
        ));
    }
    let Some(submitted) = store::latest_submitted(pool, learner_id, module_id, question_id).await?
    else {
        return Err(AssessError::Conflict(
            "submit your answer first: the model answer is shown only after you have written yours"
                .to_owned(),
        ));
    };
    Ok(Sheet {
        rubric: question
            .rubric
            .iter()
            .map(|c| CriterionScore {
                criterion: c.criterion.clone(),
                score: None,
                points: c.points,
            })
            .collect(),
        points: question.points,
        answer_version: submitted,
        current: latest(pool, learner_id, module_id, question_id).await?,
    })
}

/// Records the learner's scores for their latest submitted version.
pub async fn record(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
    scores: &Scores,
) -> Result<SelfAssessment, AssessError> {
    let sheet = sheet(pool, course, learner_id, module_id, question_id).await?;
    if scores.scores.len() != sheet.rubric.len() {
        return Err(AssessError::Invalid(format!(
            "give one score per rubric criterion: {} expected, {} given",
            sheet.rubric.len(),
            scores.scores.len()
        )));
    }
    let mut criteria = sheet.rubric;
    for (criterion, &score) in criteria.iter_mut().zip(&scores.scores) {
        if score > criterion.points {
            return Err(AssessError::Invalid(format!(
                "“{}” is worth at most {} points, not {score}",
                criterion.criterion, criterion.points
            )));
        }
        criterion.score = Some(score);
    }
    let total: u32 = scores.scores.iter().sum();
    let json = serde_json::to_string(&criteria).unwrap_or_default();
    store::insert_self_assessment(
        pool,
        learner_id,
        module_id,
        question_id,
        sheet.answer_version,
        &json,
        total,
    )
    .await?;
    latest(pool, learner_id, module_id, question_id)
        .await?
        .ok_or_else(|| AssessError::Conflict("the self-assessment was not kept".to_owned()))
}

/// The learner's latest self-assessment of a question, if any.
pub(super) async fn latest(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<SelfAssessment>, sqlx::Error> {
    let row = store::latest_self_assessment(pool, learner_id, module_id, question_id).await?;
    Ok(row.map(|(answer_version, criteria, score, assessed_at)| {
        let criteria: Vec<CriterionScore> = serde_json::from_str(&criteria).unwrap_or_default();
        SelfAssessment {
            answer_version,
            points: criteria.iter().map(|c| c.points).sum(),
            criteria,
            score: score as u32,
            assessed_at,
        }
    }))
}
