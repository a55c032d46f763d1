//! Rubric versions. Rubrics live in the content files, so an author can correct one after grading
//! has begun. Every distinct rubric of a question is recorded as a version; grades given under an
//! older version are recomputed where the criteria map (by `id`, or by identical wording) and
//! flagged for an instructor to look at again.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::store;
use crate::content::{Course, Question};

/// One criterion as recorded with a rubric version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RubricCriterion {
    /// What maps it across versions.
    pub key: String,
    /// What the answer must show.
    pub criterion: String,
    /// Points for meeting it.
    pub points: u32,
}

/// A question's rubric at one version.
#[derive(Debug, Clone)]
pub struct Rubric {
    /// 1 for the first rubric seen, +1 for each correction.
    pub version: i64,
    /// In order.
    pub criteria: Vec<RubricCriterion>,
}

/// The rubric of `question` as its content file states it now.
fn from_content(question: &Question) -> Vec<RubricCriterion> {
    question
        .rubric
        .iter()
        .map(|c| RubricCriterion {
            key: c.key.clone(),
            criterion: c.criterion.clone(),
            points: c.points,
        })
        .collect()
}

/// Records the current rubric of every open question, recomputing and flagging grades when one
/// changed; run whenever a course is loaded (start and `--watch` reloads). Cheap when nothing
/// changed (one read per open question).
pub async fn sync(pool: &AnyPool, course: &Course) -> Result<(), sqlx::Error> {
    for module in &course.modules {
        for question in module
            .questions
            .iter()
            .filter(|q| q.kind.is_instructor_graded())
        {
            sync_question(pool, module.id.as_ref(), question).await?;
        }
    }
    Ok(())
}

async fn sync_question(
    pool: &AnyPool,
    module_id: &str,
    question: &Question,
) -> Result<(), sqlx::Error> {
    let criteria = from_content(question);
    let json = serde_json::to_string(&criteria).unwrap_or_default();
    let question_id = question.id.as_ref();
    if store::latest_rubric(pool, module_id, question_id)
        .await?
        .is_some_and(|(_, latest)| latest == json)
    {
        return Ok(());
    }
    // The insert comes first so the transaction holds the write lock before it reads grades.
    let mut tx = pool.begin().await?;
    let Some(version) =
        store::insert_rubric_version(&mut tx, module_id, question_id, &json).await?
    else {
        return Ok(()); // another request recorded it first
    };
    let stale = store::grades_under_older_rubrics(&mut tx, module_id, question_id, version).await?;
    for (answer_id, revision, old_version, scores, feedback) in stale {
        let old = version_criteria(&mut *tx, module_id, question_id, old_version).await?;
        let old_scores: Vec<Option<u32>> = serde_json::from_str(&scores).unwrap_or_default();
        let outcome = recompute(&old, &old_scores, &criteria);
        let note = (!outcome.notes.is_empty()).then(|| {
            format!(
                "Rubric corrected (version {old_version} → {version}): {}.",
                outcome.notes.join("; ")
            )
        });
        let total: u32 = outcome.scores.iter().flatten().sum();
        store::insert_recomputed_grade(
            &mut tx,
            store::RecomputedGrade {
                answer_id,
                revision: revision + 1,
                rubric_version: version,
                scores: &serde_json::to_string(&outcome.scores).unwrap_or_default(),
                score: total,
                feedback: &feedback,
                needs_review: note.as_deref(),
            },
        )
        .await?;
    }
    tx.commit().await
}

/// The criteria of one recorded rubric version.
pub(super) async fn version_criteria(
    executor: impl sqlx::AnyExecutor<'_>,
    module_id: &str,
    question_id: &str,
    version: i64,
) -> Result<Vec<RubricCriterion>, sqlx::Error> {
    let json = store::rubric_version(executor, module_id, question_id, version)
        .await?
        .unwrap_or_default();
    Ok(serde_json::from_str(&json).unwrap_or_default())
}

/// The latest recorded rubric of a question, if one was recorded.
pub async fn latest(
    pool: &AnyPool,
    module_id: &str,
    question_id: &str,
) -> Result<Option<Rubric>, sqlx::Error> {
    let row = store::latest_rubric(pool, module_id, question_id).await?;
    Ok(row.map(|(version, json)| Rubric {
        version,
        criteria: serde_json::from_str(&json).unwrap_or_default(),
    }))
}

/// Every recorded rubric version, keyed by (module, question, version).
pub async fn all(
    pool: &AnyPool,
) -> Result<std::collections::HashMap<(String, String, i64), Vec<RubricCriterion>>, sqlx::Error> {
    let rows = store::rubric_versions(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(m, q, v, json)| ((m, q, v), serde_json::from_str(&json).unwrap_or_default()))
        .collect())
}

/// Scores carried over to a new rubric, and what an instructor should check.
#[derive(Debug, PartialEq, Eq)]
struct Recomputed {
    scores: Vec<Option<u32>>,
    notes: Vec<String>,
}

/// Maps scores from `old` criteria onto `new` ones: a criterion with the same key keeps its score
/// (scaled, rounding to nearest, if its points changed); a new criterion is left unscored.
fn recompute(
    old: &[RubricCriterion],
    old_scores: &[Option<u32>],
    new: &[RubricCriterion],
) -> Recomputed {
    let mut notes = Vec::new();
    let scores = new
        .iter()
        .map(|criterion| {
            let Some((i, before)) = old.iter().enumerate().find(|(_, o)| o.key == criterion.key)
            else {
                notes.push(format!("“{}” is new and unscored", criterion.criterion));
                return None;
            };
            if before.criterion != criterion.criterion {
                notes.push(format!(
                    "“{}” was reworded as “{}”",
                    before.criterion, criterion.criterion
                ));
            }
            let score = old_scores.get(i).copied().flatten()?;
            if before.points == criterion.points {
                return Some(score);
            }
            let scaled = (score * criterion.points + before.points / 2)
                .checked_div(before.points)
                .unwrap_or(0)
                .min(criterion.points);
            notes.push(format!(
                "“{}” is now worth {} points instead of {}: {score} scaled to {scaled}",
                criterion.criterion, criterion.points, before.points
            ));
            Some(scaled)
        })
        .collect();
    for (i, before) in old.iter().enumerate() {
        if !new.iter().any(|c| c.key == before.key) {
            let had = old_scores.get(i).copied().flatten().unwrap_or(0);
            notes.push(format!(
                "“{}” was removed (it had scored {had})",
                before.criterion
            ));
        }
    }
    Recomputed { scores, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: &str, text: &str, points: u32) -> RubricCriterion {
        RubricCriterion {
            key: key.to_owned(),
            criterion: text.to_owned(),
            points,
        }
    }

    #[test]
    fn mapped_criteria_keep_or_scale_their_scores_and_the_rest_is_flagged() {
        let old = [c("a", "A", 3), c("b", "B", 4), c("gone", "Gone", 3)];
        let new = [
            c("a", "A, reworded", 3),
            c("b", "B", 2),
            c("fresh", "Fresh", 5),
        ];
        let out = recompute(&old, &[Some(2), Some(3), Some(1)], &new);
        assert_eq!(out.scores, vec![Some(2), Some(2), None]);
        assert_eq!(
            out.notes,
            vec![
                "“A” was reworded as “A, reworded”",
                "“B” is now worth 2 points instead of 4: 3 scaled to 2",
                "“Fresh” is new and unscored",
                "“Gone” was removed (it had scored 1)",
            ]
        );
    }

    #[test]
    fn a_reordered_rubric_maps_every_score_without_a_note() {
        let old = [c("a", "A", 1), c("b", "B", 2)];
        let new = [c("b", "B", 2), c("a", "A", 1)];
        let out = recompute(&old, &[Some(1), Some(0)], &new);
        assert_eq!(out.scores, vec![Some(0), Some(1)]);
        assert!(out.notes.is_empty());
    }
}
