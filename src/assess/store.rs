//! Answers in SQLite.

use sqlx::SqlitePool;

/// One stored version.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AnswerRow {
    pub(super) version: i64,
    pub(super) state: String,
    pub(super) text: Option<String>,
    pub(super) choices: Option<String>,
    pub(super) auto_score: Option<i64>,
    pub(super) created_at: String,
}

/// Inserts the next version in one statement, so two saves at once cannot take the same number.
#[expect(clippy::too_many_arguments, reason = "one column each")]
pub(super) async fn insert(
    pool: &SqlitePool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
    state: &str,
    text: Option<&str>,
    choices: Option<&[usize]>,
    auto_score: Option<u32>,
) -> Result<(), sqlx::Error> {
    let choices = choices.map(|c| serde_json::to_string(c).unwrap_or_default());
    sqlx::query(
        "INSERT INTO answers (learner_id, module_id, question_id, version, state, text, choices, auto_score)
         SELECT ?1, ?2, ?3, coalesce(max(version), 0) + 1, ?4, ?5, ?6, ?7 FROM answers
         WHERE learner_id = ?1 AND module_id = ?2 AND question_id = ?3",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .bind(state)
    .bind(text)
    .bind(choices)
    .bind(auto_score.map(i64::from))
    .execute(pool)
    .await
    .map(|_| ())
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

/// (module, question) pairs with a submitted version.
pub(super) async fn submitted_questions(
    pool: &SqlitePool,
    learner_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT DISTINCT module_id, question_id FROM answers WHERE learner_id = ? AND state = 'submitted'").bind(learner_id).fetch_all(pool).await
}
