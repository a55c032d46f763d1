//! Answers in SQLite.

use sqlx::AnyPool;

use crate::auth::StaffScope;

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
    pool: &AnyPool,
    new: NewAnswer<'_>,
) -> Result<Option<AnswerRow>, sqlx::Error> {
    if new.state == "draft" {
        let replaced: Option<AnswerRow> = sqlx::query_as(
            "UPDATE answers SET text = $4, version = version + 1, created_at = $5
             WHERE id = (SELECT id FROM answers WHERE learner_id = $1 AND module_id = $2 AND question_id = $3
                         ORDER BY version DESC LIMIT 1)
               AND state = 'draft'
             RETURNING version, state, text, choices, auto_score, created_at",
        )
        .bind(new.learner_id)
        .bind(new.module_id)
        .bind(new.question_id)
        .bind(new.text)
        .bind(crate::clock::timestamp_now())
        .fetch_all(pool)
        .await?
        .pop();
        if replaced.is_some() {
            return Ok(replaced);
        }
    }
    let choices = new
        .choices
        .map(|c| serde_json::to_string(c).unwrap_or_default());
    // On PostgreSQL saves at once can read the same last version; the unique key refuses all but
    // one, and the others take the next number. Each round one of them wins, so this serves up
    // to nine at once (a learner's burst on one question is one or two).
    let mut attempts = 0;
    loop {
        let inserted = insert_next_version(pool, &new, choices.as_deref()).await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempts < 8 => {
                attempts += 1;
            }
            result => return result,
        }
    }
}

/// One attempt of [`insert`] for a version after the first draft check.
async fn insert_next_version(
    pool: &AnyPool,
    new: &NewAnswer<'_>,
    choices: Option<&str>,
) -> Result<Option<AnswerRow>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO answers (learner_id, module_id, question_id, version, state, text, choices, auto_score)
         SELECT $1, $2, $3,
                (SELECT coalesce(max(version), 0) + 1 FROM answers WHERE learner_id = $1 AND module_id = $2 AND question_id = $3),
                $4, $5, $6, $7
         WHERE NOT EXISTS (SELECT 1 FROM answers x WHERE x.learner_id = $1 AND x.module_id = $2 AND x.question_id = $3
                           AND x.state = 'submitted' AND ($8 OR EXISTS (SELECT 1 FROM grades g WHERE g.answer_id = x.id)))
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
    .fetch_all(pool)
    .await
    .map(|rows| rows.into_iter().next())
}

/// A submitted version with its current grade.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct GradedRow {
    #[sqlx(flatten)]
    pub(super) answer: AnswerRow,
    #[sqlx(flatten)]
    pub(super) grade: GradeRow,
    /// Whether the question's grades are released to learners.
    #[sqlx(try_from = "crate::db::Flag")]
    pub(super) released: bool,
}

/// The latest submitted version and its current grade, if an instructor has graded it.
pub(super) async fn graded_submission(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<GradedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.version, a.state, a.text, a.choices, a.auto_score, a.created_at,
                g.rubric_version, g.scores, g.score, g.feedback, g.created_at AS graded_at,
                EXISTS (SELECT 1 FROM grade_releases r WHERE r.module_id = a.module_id AND r.question_id = a.question_id) AS released
         FROM answers a JOIN grades g ON g.answer_id = a.id
         WHERE a.learner_id = $1 AND a.module_id = $2 AND a.question_id = $3 AND a.state = 'submitted'
         ORDER BY a.version DESC, g.revision DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}

pub(super) async fn latest(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<AnswerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, state, text, choices, auto_score, created_at FROM answers
         WHERE learner_id = $1 AND module_id = $2 AND question_id = $3 ORDER BY version DESC LIMIT 1",
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
    pub(super) feedback: Option<String>,
    #[sqlx(try_from = "crate::db::Flag")]
    pub(super) released: bool,
}

/// The latest submitted version of each question the learner answered, with its current grade.
pub(super) async fn submitted_scores(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Vec<SubmittedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.module_id, a.question_id, a.auto_score, g.score AS grade, g.feedback,
                EXISTS (SELECT 1 FROM grade_releases r WHERE r.module_id = a.module_id AND r.question_id = a.question_id) AS released
         FROM latest_submissions a
         LEFT JOIN current_grades g ON g.answer_id = a.id
         WHERE a.learner_id = $1",
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
pub(super) async fn current_submissions(pool: &AnyPool) -> Result<Vec<CurrentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.learner_id, a.module_id, a.question_id, a.auto_score, g.score, g.rubric_version, g.scores
         FROM latest_submissions a
         LEFT JOIN current_grades g ON g.answer_id = a.id",
    )
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    pub(super) answer_id: i64,
    pub(super) learner_id: i64,
    pub(super) username: String,
    pub(super) cohort: Option<String>,
    pub(super) module_id: String,
    pub(super) question_id: String,
    pub(super) version: i64,
    pub(super) submitted_at: String,
    pub(super) score: Option<i64>,
    pub(super) needs_review: Option<String>,
    #[sqlx(try_from = "crate::db::Flag")]
    pub(super) graded: bool,
    pub(super) graded_by: Option<String>,
    #[sqlx(try_from = "crate::db::Flag")]
    pub(super) released: bool,
}

/// Submitted open answers (learners' only) with their current grade; callers add conditions.
const ENTRIES: &str = "
SELECT a.id AS answer_id, a.learner_id, acc.username, acc.cohort, a.module_id, a.question_id, a.version,
       a.created_at AS submitted_at, g.score, g.needs_review, g.id IS NOT NULL AS graded,
       grader.username AS graded_by,
       EXISTS (SELECT 1 FROM grade_releases r WHERE r.module_id = a.module_id AND r.question_id = a.question_id) AS released
FROM answers a
JOIN accounts acc ON acc.learner_id = a.learner_id AND acc.role = 'learner'
LEFT JOIN current_grades g ON g.answer_id = a.id
LEFT JOIN accounts grader ON grader.learner_id = g.grader_id
WHERE a.state = 'submitted' AND a.choices IS NULL";

/// Submitted open answers, each learner's latest per question, of learners within the staff
/// member's scope, matching the queue's filters (each `None` matches all; `learner` matches part
/// of the user name).
pub(super) async fn grading_queue(
    pool: &AnyPool,
    scope: StaffScope,
    module: Option<&str>,
    question: Option<&str>,
    learner: Option<&str>,
    cohort: Option<&str>,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    let sql = format!(
        "{ENTRIES}
  AND a.id IN (SELECT id FROM latest_submissions)
  AND ($1 IS NULL OR a.module_id = $1) AND ($2 IS NULL OR a.question_id = $2)
  AND ($3 IS NULL OR lower(acc.username) LIKE '%' || lower($3) || '%') AND ($4 IS NULL OR acc.cohort = $4)
  AND ($5 IS NULL OR acc.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $5))"
    );
    sqlx::query_as(&sql)
        .bind(module)
        .bind(question)
        .bind(learner)
        .bind(cohort)
        .bind(scope.bounded_by())
        .fetch_all(pool)
        .await
}

/// One submitted open answer of a learner within the staff member's scope, even if a newer version
/// superseded it (a grader may hold an old link).
pub(super) async fn grading_entry(
    pool: &AnyPool,
    scope: StaffScope,
    answer_id: i64,
) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{ENTRIES} AND a.id = $1
  AND ($2 IS NULL OR acc.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $2))"
    ))
    .bind(answer_id)
    .bind(scope.bounded_by())
    .fetch_optional(pool)
    .await
}

/// The module and question an answer belongs to.
pub(super) async fn answer_question(
    pool: &AnyPool,
    answer_id: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT module_id, question_id FROM answers WHERE id = $1")
        .bind(answer_id)
        .fetch_optional(pool)
        .await
}

/// An answer's text, and the id of a newer submission of the same question if there is one.
pub(super) async fn answer_text_and_newer(
    pool: &AnyPool,
    answer_id: i64,
) -> Result<(Option<String>, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT a.text, (SELECT b.id FROM answers b WHERE b.learner_id = a.learner_id AND b.module_id = a.module_id
                          AND b.question_id = a.question_id AND b.state = 'submitted' AND b.version > a.version
                          ORDER BY b.version DESC LIMIT 1)
         FROM answers a WHERE a.id = $1",
    )
    .bind(answer_id)
    .fetch_one(pool)
    .await
}

#[derive(sqlx::FromRow)]
pub(super) struct GradeRecordRow {
    pub(super) revision: i64,
    pub(super) grader: Option<String>,
    pub(super) rubric_version: i64,
    pub(super) scores: String,
    pub(super) score: i64,
    pub(super) feedback: String,
    pub(super) needs_review: Option<String>,
    pub(super) graded_at: String,
}

/// An answer's grades, newest first, with who gave them.
pub(super) async fn grade_history(
    pool: &AnyPool,
    answer_id: i64,
) -> Result<Vec<GradeRecordRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.revision, acc.username AS grader, g.rubric_version, g.scores, g.score, g.feedback,
                g.needs_review, g.created_at AS graded_at
         FROM grades g LEFT JOIN accounts acc ON acc.learner_id = g.grader_id
         WHERE g.answer_id = $1 ORDER BY g.revision DESC",
    )
    .bind(answer_id)
    .fetch_all(pool)
    .await
}

/// A grade to save, with the revision the grader saw.
pub(super) struct NewGrade<'a> {
    pub(super) answer_id: i64,
    pub(super) seen_revision: i64,
    pub(super) grader_id: i64,
    pub(super) rubric_version: i64,
    pub(super) scores: &'a str,
    pub(super) score: u32,
    pub(super) feedback: &'a str,
}

/// Saves revision `seen_revision + 1` in one statement, only if the grader saw the latest revision
/// and no newer submission exists; the unique (answer, revision) key settles two graders saving at
/// the same instant. `false` when someone else was first.
pub(super) async fn insert_grade(pool: &AnyPool, new: NewGrade<'_>) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO grades (answer_id, revision, grader_id, rubric_version, scores, score, feedback)
         SELECT $1, $2 + 1, $3, $4, $5, $6, $7
         WHERE coalesce((SELECT max(revision) FROM grades WHERE answer_id = $1), 0) = $2
           AND NOT EXISTS (SELECT 1 FROM answers this JOIN answers newer
                           ON newer.learner_id = this.learner_id AND newer.module_id = this.module_id
                          AND newer.question_id = this.question_id AND newer.state = 'submitted'
                          AND newer.version > this.version
                           WHERE this.id = $1)",
    )
    .bind(new.answer_id)
    .bind(new.seen_revision)
    .bind(new.grader_id)
    .bind(new.rubric_version)
    .bind(new.scores)
    .bind(i64::from(new.score))
    .bind(new.feedback)
    .execute(pool)
    .await;
    match inserted {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the grades of `questions` of a module to learners (again is a no-op).
pub(super) async fn release(
    pool: &AnyPool,
    module_id: &str,
    questions: &[&str],
    released_by: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for question_id in questions {
        sqlx::query(
            "INSERT INTO grade_releases (module_id, question_id, released_by) VALUES ($1, $2, $3)
             ON CONFLICT (module_id, question_id) DO NOTHING",
        )
        .bind(module_id)
        .bind(question_id)
        .bind(released_by)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Takes back the release of `questions` of a module: learners stop seeing their grades.
pub(super) async fn withdraw(
    pool: &AnyPool,
    module_id: &str,
    questions: &[&str],
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut withdrawn = 0;
    for question_id in questions {
        withdrawn +=
            sqlx::query("DELETE FROM grade_releases WHERE module_id = $1 AND question_id = $2")
                .bind(module_id)
                .bind(question_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
    }
    tx.commit().await?;
    Ok(withdrawn)
}

/// Per question of a module: learners' latest submissions, and how many of them are graded.
pub(super) async fn graded_counts(
    pool: &AnyPool,
    module_id: &str,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.question_id, count(*), count(g.answer_id) FROM latest_submissions s
         LEFT JOIN current_grades g ON g.answer_id = s.id
         WHERE s.module_id = $1 GROUP BY s.question_id",
    )
    .bind(module_id)
    .fetch_all(pool)
    .await
}

/// Every released (module, question).
pub(super) async fn releases(pool: &AnyPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT module_id, question_id FROM grade_releases")
        .fetch_all(pool)
        .await
}

/// Records `criteria` (JSON) as a question's next rubric version unless it is the latest already;
/// the new version's number, or `None` when someone recorded it first.
pub(super) async fn insert_rubric_version(
    tx: &mut sqlx::AnyConnection,
    module_id: &str,
    question_id: &str,
    criteria: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query_as::<_, (i64,)>(
        "INSERT INTO rubric_versions (module_id, question_id, version, criteria)
         SELECT $1, $2, (SELECT coalesce(max(version), 0) + 1 FROM rubric_versions WHERE module_id = $1 AND question_id = $2), $3
         WHERE coalesce((SELECT criteria FROM rubric_versions WHERE module_id = $1 AND question_id = $2
                         ORDER BY version DESC LIMIT 1), '') <> $3
         RETURNING version",
    )
    .bind(module_id)
    .bind(question_id)
    .bind(criteria)
    .fetch_all(tx)
    .await;
    match inserted {
        Ok(rows) => Ok(rows.first().map(|(version,)| *version)),
        // Another server (PostgreSQL) recorded a version at the same instant.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Current grades of a question given under a rubric older than `version`: answer, revision,
/// rubric version, scores (JSON), feedback.
pub(super) async fn grades_under_older_rubrics(
    tx: &mut sqlx::AnyConnection,
    module_id: &str,
    question_id: &str,
    version: i64,
) -> Result<Vec<(i64, i64, i64, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.answer_id, g.revision, g.rubric_version, g.scores, g.feedback
         FROM current_grades g JOIN answers a ON a.id = g.answer_id
         WHERE a.module_id = $1 AND a.question_id = $2 AND g.rubric_version < $3",
    )
    .bind(module_id)
    .bind(question_id)
    .bind(version)
    .fetch_all(tx)
    .await
}

/// A grade Lectern recomputed after a rubric correction (no grader), flagged for another look.
pub(super) struct RecomputedGrade<'a> {
    pub(super) answer_id: i64,
    pub(super) revision: i64,
    pub(super) rubric_version: i64,
    pub(super) scores: &'a str,
    pub(super) score: u32,
    pub(super) feedback: &'a str,
    pub(super) needs_review: Option<&'a str>,
}

/// Saves a recomputed grade as the answer's next revision.
pub(super) async fn insert_recomputed_grade(
    tx: &mut sqlx::AnyConnection,
    grade: RecomputedGrade<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grades (answer_id, revision, grader_id, rubric_version, scores, score, feedback, needs_review)
         VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)",
    )
    .bind(grade.answer_id)
    .bind(grade.revision)
    .bind(grade.rubric_version)
    .bind(grade.scores)
    .bind(i64::from(grade.score))
    .bind(grade.feedback)
    .bind(grade.needs_review)
    .execute(tx)
    .await
    .map(|_| ())
}

/// A question's latest recorded rubric: its version and criteria (JSON).
pub(super) async fn latest_rubric(
    pool: &AnyPool,
    module_id: &str,
    question_id: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, criteria FROM rubric_versions WHERE module_id = $1 AND question_id = $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}

/// The criteria (JSON) of one recorded rubric version.
pub(super) async fn rubric_version(
    executor: impl sqlx::AnyExecutor<'_>,
    module_id: &str,
    question_id: &str,
    version: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_as::<_, (String,)>(
        "SELECT criteria FROM rubric_versions WHERE module_id = $1 AND question_id = $2 AND version = $3",
    )
    .bind(module_id)
    .bind(question_id)
    .bind(version)
    .fetch_optional(executor)
    .await
    .map(|row| row.map(|(criteria,)| criteria))
}

/// Every recorded rubric version: module, question, version, criteria (JSON).
pub(super) async fn rubric_versions(
    pool: &AnyPool,
) -> Result<Vec<(String, String, i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT module_id, question_id, version, criteria FROM rubric_versions")
        .fetch_all(pool)
        .await
}

/// The (module, question) of each instructor grade the learner may see and has not seen on My
/// work yet: graded or released (whichever came later) since they last opened it.
pub(super) async fn unseen_grades(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.module_id, s.question_id FROM latest_submissions s
         JOIN current_grades g ON g.answer_id = s.id
         JOIN grade_releases r ON r.module_id = s.module_id AND r.question_id = s.question_id
         LEFT JOIN work_seen w ON w.learner_id = s.learner_id
         WHERE s.learner_id = $1
           AND (w.seen_at IS NULL OR g.created_at > w.seen_at OR r.released_at > w.seen_at)",
    )
    .bind(learner_id)
    .fetch_all(pool)
    .await
}

/// Notes that the learner has seen My work as of now.
pub(super) async fn mark_work_seen(pool: &AnyPool, learner_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO work_seen (learner_id, seen_at) VALUES ($1, $2)
         ON CONFLICT (learner_id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(learner_id)
    .bind(crate::clock::timestamp_now())
    .execute(pool)
    .await
    .map(|_| ())
}

/// The learner's latest submitted version of a question, if any.
pub(super) async fn latest_submitted(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT max(version) FROM answers
         WHERE learner_id = $1 AND module_id = $2 AND question_id = $3 AND state = 'submitted'
         HAVING count(*) > 0",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(v,)| v))
}

pub(super) async fn insert_self_assessment(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
    answer_version: i64,
    criteria: &str,
    score: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO self_assessments (learner_id, module_id, question_id, answer_version, criteria, score)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .bind(answer_version)
    .bind(criteria)
    .bind(i64::from(score))
    .execute(pool)
    .await
    .map(|_| ())
}

/// (answer version, criteria JSON, score, when) of the latest self-assessment.
pub(super) async fn latest_self_assessment(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
    question_id: &str,
) -> Result<Option<(i64, String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT answer_version, criteria, score, created_at FROM self_assessments
         WHERE learner_id = $1 AND module_id = $2 AND question_id = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}
