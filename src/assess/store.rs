//! Answers in SQLite.

use sqlx::SqlitePool;

/// One stored version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct AnswerRow {
    pub(super) version: i64,
    pub(super) state: String,
    pub(super) text: Option<String>,
    pub(super) choices: Option<String>,
    pub(super) auto_score: Option<i64>,
    pub(super) created_at: String,
}

/// The current grade of a submitted version.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct GradeRow {
    pub(super) rubric_version: i64,
    pub(super) scores: String,
    pub(super) score: i64,
    pub(super) feedback: String,
    pub(super) graded_at: String,
}

/// A version to save.
pub(super) struct NewAnswer<'a> {
    pub(super) learner_id: i64,
    pub(super) module_id: &'a str,
    pub(super) question_id: &'a str,
    pub(super) state: &'a str,
    pub(super) text: Option<&'a str>,
    pub(super) choices: Option<&'a [usize]>,
    pub(super) auto_score: Option<u32>,
    /// Refuse any version after the first submission (choice questions).
    pub(super) once: bool,
}

/// Inserts the next version in one statement, so two saves at once cannot take the same number and
/// a save cannot slip in after a grade; returns the stored version, or `None` when the answer is closed
/// to changes: graded by an instructor, or (with `once`) already submitted.
///
/// A draft that follows a draft replaces it (its version still counts up), so the history holds
/// every submission and at most one draft after each: a learner saving drafts in a loop cannot grow
/// the database.
pub(super) async fn insert(
    pool: &SqlitePool,
    new: NewAnswer<'_>,
) -> Result<Option<AnswerRow>, sqlx::Error> {
    if new.state == "draft" {
        let replaced: Option<AnswerRow> = sqlx::query_as(
            "UPDATE answers SET text = ?4, version = version + 1, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = (SELECT id FROM answers WHERE learner_id = ?1 AND module_id = ?2 AND question_id = ?3
                         ORDER BY version DESC LIMIT 1)
               AND state = 'draft'
             RETURNING version, state, text, choices, auto_score, created_at",
        )
        .bind(new.learner_id)
        .bind(new.module_id)
        .bind(new.question_id)
        .bind(new.text)
        .fetch_optional(pool)
        .await?;
        if replaced.is_some() {
            return Ok(replaced);
        }
    }
    let choices = new
        .choices
        .map(|c| serde_json::to_string(c).unwrap_or_default());
    sqlx::query_as(
        "INSERT INTO answers (learner_id, module_id, question_id, version, state, text, choices, auto_score)
         SELECT ?1, ?2, ?3,
                (SELECT coalesce(max(version), 0) + 1 FROM answers WHERE learner_id = ?1 AND module_id = ?2 AND question_id = ?3),
                ?4, ?5, ?6, ?7
         WHERE NOT EXISTS (SELECT 1 FROM answers x WHERE x.learner_id = ?1 AND x.module_id = ?2 AND x.question_id = ?3
                           AND x.state = 'submitted' AND (?8 OR EXISTS (SELECT 1 FROM grades g WHERE g.answer_id = x.id)))
         RETURNING version, state, text, choices, auto_score, created_at",
    )
    .bind(new.learner_id)
    .bind(new.module_id)
    .bind(new.question_id)
    .bind(new.state)
    .bind(new.text)
    .bind(choices)
    .bind(new.auto_score.map(i64::from))
    .bind(new.once)
    .fetch_optional(pool)
    .await
}

/// A submitted version with its current grade.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct GradedRow {
    #[sqlx(flatten)]
    pub(super) answer: AnswerRow,
    #[sqlx(flatten)]
    pub(super) grade: GradeRow,
    /// Whether the question's grades are released to learners.
    pub(super) released: bool,
}

/// The latest submitted version and its current grade, if an instructor has graded it.
pub(super) async fn graded_submission(
    pool: &SqlitePool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<GradedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.version, a.state, a.text, a.choices, a.auto_score, a.created_at,
                g.rubric_version, g.scores, g.score, g.feedback, g.created_at AS graded_at,
                EXISTS (SELECT 1 FROM grade_releases r WHERE r.module_id = a.module_id AND r.question_id = a.question_id) AS released
         FROM answers a JOIN grades g ON g.answer_id = a.id
         WHERE a.learner_id = ? AND a.module_id = ? AND a.question_id = ? AND a.state = 'submitted'
         ORDER BY a.version DESC, g.revision DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}

pub(super) async fn latest(
    pool: &SqlitePool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<AnswerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, state, text, choices, auto_score, created_at FROM answers
         WHERE learner_id = ? AND module_id = ? AND question_id = ? ORDER BY version DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}

/// A learner's latest submission to one question, with its score if any.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SubmittedRow {
    pub(super) module_id: String,
    pub(super) question_id: String,
    pub(super) auto_score: Option<i64>,
    pub(super) grade: Option<i64>,
    pub(super) released: bool,
}

/// The latest submitted version of each question the learner answered, with its current grade.
pub(super) async fn submitted_scores(
    pool: &SqlitePool,
    learner_id: i64,
) -> Result<Vec<SubmittedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.module_id, a.question_id, a.auto_score, g.score AS grade,
                EXISTS (SELECT 1 FROM grade_releases r WHERE r.module_id = a.module_id AND r.question_id = a.question_id) AS released
         FROM latest_submissions a
         LEFT JOIN current_grades g ON g.answer_id = a.id
         WHERE a.learner_id = ?1",
    )
    .bind(learner_id)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
pub(super) struct CurrentRow {
    pub(super) learner_id: i64,
    pub(super) module_id: String,
    pub(super) question_id: String,
    pub(super) auto_score: Option<i64>,
    pub(super) score: Option<i64>,
    pub(super) rubric_version: Option<i64>,
    pub(super) scores: Option<String>,
}

/// Each learner's latest submitted answer per question, with its current grade.
pub(super) async fn current_submissions(pool: &SqlitePool) -> Result<Vec<CurrentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.learner_id, a.module_id, a.question_id, a.auto_score, g.score, g.rubric_version, g.scores
         FROM latest_submissions a
         LEFT JOIN current_grades g ON g.answer_id = a.id",
    )
    .fetch_all(pool)
    .await
}
