//! Instructor grading of open answers: the queue, one answer with its grade history, saving a grade
//! with an optimistic-concurrency check, and releasing grades to learners.

use std::collections::HashSet;

use sqlx::AnyPool;

use super::rubrics::{self, Rubric};
use super::{AssessError, question, store};
use crate::auth::StaffScope;
use crate::content::Course;

/// Where an answer is in grading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GradeStatus {
    /// Submitted, no grade yet.
    Ungraded,
    /// Graded, but a rubric correction changed what the grade means.
    NeedsReview,
    /// Graded.
    Graded,
}

impl GradeStatus {
    /// For CSS classes and URLs.
    pub fn slug(self) -> &'static str {
        match self {
            GradeStatus::Ungraded => "ungraded",
            GradeStatus::NeedsReview => "needs-review",
            GradeStatus::Graded => "graded",
        }
    }

    /// As shown in the queue.
    pub fn label(self) -> &'static str {
        match self {
            GradeStatus::Ungraded => "ungraded",
            GradeStatus::NeedsReview => "needs another look",
            GradeStatus::Graded => "graded",
        }
    }
}

/// Which answers the queue shows; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Module id.
    pub module: Option<String>,
    /// Question id.
    pub question: Option<String>,
    /// Part of the learner's user name.
    pub learner: Option<String>,
    /// Cohort name.
    pub cohort: Option<String>,
}

/// One submitted answer waiting for, or having, a grade.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// The submitted version's id: what a grade is attached to.
    pub answer_id: i64,
    /// Whose.
    pub learner_id: i64,
    /// Their user name.
    pub username: String,
    /// Their cohort.
    pub cohort: Option<String>,
    /// Module.
    pub module_id: String,
    /// Question.
    pub question_id: String,
    /// Position of the question in its module, from 1.
    pub question_number: usize,
    /// The question's prompt in one short line (what staff see instead of its id).
    pub question_summary: String,
    /// Which version of the learner's answer this is.
    pub version: i64,
    /// When it was submitted.
    pub submitted_at: String,
    /// Grading state.
    pub status: GradeStatus,
    /// Current score, once graded.
    pub score: Option<u32>,
    /// The question's points.
    pub points: u32,
    /// Who gave the current grade (`None`: Lectern recomputed it, or ungraded).
    pub graded_by: Option<String>,
    /// Whether learners can see grades of this question.
    pub released: bool,
}

impl QueueEntry {
    /// "Q8 What is the role of…": the question as staff pages name it.
    pub fn question_label(&self) -> String {
        format!("Q{} {}", self.question_number, self.question_summary)
    }
}

/// One grade in an answer's history.
#[derive(Debug, Clone)]
pub struct GradeRecord {
    /// 1, 2, …: what the next grader must have seen.
    pub revision: i64,
    /// Who graded; `None` when Lectern recomputed it after a rubric correction.
    pub grader: Option<String>,
    /// The rubric version the scores belong to.
    pub rubric_version: i64,
    /// Per criterion of that version; `None` when not scored.
    pub scores: Vec<Option<u32>>,
    /// Their sum.
    pub score: u32,
    /// For the learner.
    pub feedback: String,
    /// Why an instructor should look again, if they should.
    pub needs_review: Option<String>,
    /// When.
    pub graded_at: String,
}

/// Everything an instructor needs to grade one answer.
#[derive(Debug, Clone)]
pub struct GradingTask {
    /// The answer's place in the queue.
    pub entry: QueueEntry,
    /// What the learner wrote (plain text; escape it when showing it).
    pub text: String,
    /// The rubric to grade against (the latest version).
    pub rubric: Rubric,
    /// Every grade, newest first.
    pub history: Vec<GradeRecord>,
    /// A newer submitted version of the same answer, if the learner resubmitted.
    pub superseded_by: Option<i64>,
}

impl GradingTask {
    /// The revision a new grade must follow.
    pub fn revision(&self) -> i64 {
        self.history.first().map_or(0, |g| g.revision)
    }
}

/// A grade as an instructor submits it.
#[derive(Debug, Clone)]
pub struct GradeInput {
    /// The latest revision the grader saw (0: none).
    pub revision: i64,
    /// The rubric version the scores are for.
    pub rubric_version: i64,
    /// One score per criterion, in rubric order.
    pub scores: Vec<u32>,
    /// For the learner.
    pub feedback: String,
}

impl GradeInput {
    /// Reads the grading form's fields as the browser sent them: `revision` and `rubric_version`
    /// (hidden, from the page the grader saw), one `score` per criterion, and `feedback`. The error
    /// names the first field that is not right.
    pub fn parse(
        revision: &str,
        rubric_version: &str,
        scores: &[String],
        feedback: &str,
    ) -> Result<Self, AssessError> {
        let hidden = |name: &str, value: &str| {
            value.trim().parse::<i64>().map_err(|_| {
                AssessError::Invalid(format!(
                    "the form's {name} is missing or wrong; reload the answer and grade it again"
                ))
            })
        };
        let scores = scores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.trim().parse::<u32>().map_err(|_| {
                    AssessError::Invalid(format!(
                        "criterion {} needs a whole number of points, not “{}”",
                        i + 1,
                        s.trim()
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            revision: hidden("revision", revision)?,
            rubric_version: hidden("rubric version", rubric_version)?,
            scores,
            feedback: feedback.replace("\r\n", "\n"),
        })
    }
}

impl store::EntryRow {
    fn into_entry(self, course: &Course) -> Option<QueueEntry> {
        let module = course.module(&self.module_id)?;
        let (index, question) = module
            .questions
            .iter()
            .enumerate()
            .find(|(_, q)| q.id.as_ref() == self.question_id)?;
        if !question.kind.is_instructor_graded() {
            return None;
        }
        let status = match (self.graded, &self.needs_review) {
            (false, _) => GradeStatus::Ungraded,
            (true, Some(_)) => GradeStatus::NeedsReview,
            (true, None) => GradeStatus::Graded,
        };
        Some(QueueEntry {
            answer_id: self.answer_id,
            learner_id: self.learner_id,
            username: self.username,
            cohort: self.cohort,
            module_id: self.module_id,
            question_id: self.question_id,
            question_number: index + 1,
            question_summary: question.summary(),
            version: self.version,
            submitted_at: self.submitted_at,
            status,
            score: self.score.map(|s| s as u32),
            points: question.points,
            graded_by: self.graded_by,
            released: self.released,
        })
    }
}

/// Submitted open answers matching `filter`: ungraded first, then those needing another look,
/// then graded ones; oldest submission first within each.
pub async fn queue(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    filter: &QueueFilter,
) -> Result<Vec<QueueEntry>, AssessError> {
    let rows = store::grading_queue(
        pool,
        scope,
        filter.module.as_deref(),
        filter.question.as_deref(),
        filter.learner.as_deref(),
        filter.cohort.as_deref(),
    )
    .await?;
    let mut entries: Vec<QueueEntry> = rows
        .into_iter()
        .filter_map(|r| r.into_entry(course))
        .collect();
    entries.sort_by(|a, b| {
        (a.status, &a.submitted_at, a.answer_id).cmp(&(b.status, &b.submitted_at, b.answer_id))
    });
    Ok(entries)
}

/// The answer to grade after `current` in a queue (as [`queue`] orders it): the next one waiting for
/// a grade or another look, going round to the start, so an answer skipped comes back only after
/// the rest. `None` when nothing else waits.
pub fn next_waiting(entries: &[QueueEntry], current: i64) -> Option<&QueueEntry> {
    let at = entries
        .iter()
        .position(|e| e.answer_id == current)
        .map_or(0, |i| i + 1);
    entries[at..]
        .iter()
        .chain(&entries[..at])
        .find(|e| e.status != GradeStatus::Graded && e.answer_id != current)
}

/// One answer to grade, with the rubric and every earlier grade; an answer of a learner outside the
/// grader's scope is not found.
pub async fn task(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    answer_id: i64,
) -> Result<GradingTask, AssessError> {
    let missing =
        || AssessError::NotFound(format!("there is no submitted open answer {answer_id}"));
    let (module_id, question_id) = store::answer_question(pool, answer_id)
        .await?
        .ok_or_else(missing)?;
    question(course, &module_id, &question_id)?;
    // The answer itself, even if a newer version superseded it (a grader may hold an old link).
    let entry = store::grading_entry(pool, scope, answer_id)
        .await?
        .and_then(|r| r.into_entry(course))
        .ok_or_else(missing)?;
    let (text, superseded_by) = store::answer_text_and_newer(pool, answer_id).await?;
    let rubric = rubrics::latest(pool, &module_id, &question_id)
        .await?
        .ok_or_else(missing)?;
    Ok(GradingTask {
        entry,
        text: text.unwrap_or_default(),
        rubric,
        history: history(pool, answer_id).await?,
        superseded_by,
    })
}

/// An answer's grades, newest first.
async fn history(pool: &AnyPool, answer_id: i64) -> Result<Vec<GradeRecord>, sqlx::Error> {
    let rows = store::grade_history(pool, answer_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| GradeRecord {
            revision: r.revision,
            grader: r.grader,
            rubric_version: r.rubric_version,
            scores: serde_json::from_str(&r.scores).unwrap_or_default(),
            score: r.score as u32,
            feedback: r.feedback,
            needs_review: r.needs_review,
            graded_at: r.graded_at,
        })
        .collect())
}

/// Saves a grade for a submitted answer, unless someone else graded it (or the learner resubmitted,
/// or the rubric changed) since the grader loaded it: then nothing is saved and the conflict says why.
pub async fn grade(
    pool: &AnyPool,
    course: &Course,
    grader_id: i64,
    scope: StaffScope,
    answer_id: i64,
    input: GradeInput,
) -> Result<GradeRecord, AssessError> {
    let task = task(pool, course, scope, answer_id).await?;
    if let Some(newer) = task.superseded_by {
        return Err(AssessError::Conflict(format!(
            "{} submitted a newer version of this answer while you were grading; nothing was saved. Grade the new version (answer {newer}) instead.",
            task.entry.username
        )));
    }
    if input.rubric_version != task.rubric.version {
        return Err(AssessError::Conflict(format!(
            "The rubric was corrected while you were grading (it is now version {}); nothing was saved. Score the answer against the new rubric.",
            task.rubric.version
        )));
    }
    if let Some(latest) = task
        .history
        .first()
        .filter(|g| g.revision != input.revision)
    {
        return Err(conflict_with(latest));
    }
    let criteria = &task.rubric.criteria;
    if input.scores.len() != criteria.len() {
        return Err(AssessError::Invalid(format!(
            "score every criterion: the rubric has {}, {} were sent",
            criteria.len(),
            input.scores.len()
        )));
    }
    if let Some((c, s)) = criteria
        .iter()
        .zip(&input.scores)
        .find(|(c, s)| **s > c.points)
    {
        return Err(AssessError::Invalid(format!(
            "“{}” is worth at most {} points, not {s}",
            c.criterion, c.points
        )));
    }
    if input.feedback.chars().count() > 20_000 {
        return Err(AssessError::Invalid(
            "feedback is limited to 20,000 characters".to_owned(),
        ));
    }
    let scores: Vec<Option<u32>> = input.scores.iter().copied().map(Some).collect();
    let total: u32 = input.scores.iter().sum();
    let saved = store::insert_grade(
        pool,
        store::NewGrade {
            answer_id,
            seen_revision: input.revision,
            grader_id,
            rubric_version: input.rubric_version,
            scores: &serde_json::to_string(&scores).unwrap_or_default(),
            score: total,
            feedback: &input.feedback,
        },
    )
    .await?;
    let lost_race = !saved;
    let history = history(pool, answer_id).await?;
    match history.into_iter().next() {
        Some(latest) if lost_race || latest.revision != input.revision + 1 => {
            Err(conflict_with(&latest))
        }
        Some(latest) => Ok(latest),
        None => Err(AssessError::Conflict(
            "the answer changed while you were grading; reload it".to_owned(),
        )),
    }
}

fn conflict_with(latest: &GradeRecord) -> AssessError {
    let who = latest
        .grader
        .as_deref()
        .unwrap_or("Lectern (after a rubric correction)");
    AssessError::Conflict(format!(
        "{who} graded this answer at {} (score {}) while you had it open; your scores were not saved. Review their grade below, then regrade if you disagree.",
        latest.graded_at, latest.score
    ))
}

/// The instructor-graded questions a release (or withdrawal) is about: one, or all of a module's.
fn release_scope<'a>(
    course: &'a Course,
    module_id: &str,
    question_id: Option<&str>,
) -> Result<Vec<&'a str>, AssessError> {
    let module = course
        .module(module_id)
        .ok_or_else(|| AssessError::NotFound(format!("there is no module `{module_id}`")))?;
    Ok(match question_id {
        Some(q) => vec![question(course, module_id, q)?.id.as_ref()],
        None => module
            .questions
            .iter()
            .filter(|q| q.kind.is_instructor_graded())
            .map(|q| q.id.as_ref())
            .collect(),
    })
}

/// What a release would publish, question by question, for the instructor to confirm.
#[derive(Debug, Clone)]
pub struct ReleasePreview {
    /// "the grades of Q8 What is the role…" or "the grades of every instructor-graded question of
    /// Cluster architecture deep-dive": what people read, not ids.
    pub what: String,
    /// One row per question the release is about.
    pub questions: Vec<PreviewRow>,
}

/// One question of a release preview.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    /// "Q8 What is the role…".
    pub question: String,
    /// Learners' latest submitted answers.
    pub submitted: usize,
    /// Of those, graded.
    pub graded: usize,
    /// Already released: its graded answers are shown already.
    pub released: bool,
}

impl ReleasePreview {
    /// Graded answers learners would see at once (those of questions not released already).
    pub fn graded(&self) -> usize {
        self.questions
            .iter()
            .filter(|q| !q.released)
            .map(|q| q.graded)
            .sum()
    }

    /// Questions with nothing graded yet (their grades appear as they are graded).
    pub fn nothing_graded(&self) -> usize {
        self.questions.iter().filter(|q| q.graded == 0).count()
    }
}

/// What releasing one question, or every instructor-graded question of a module, would publish.
pub async fn release_preview(
    pool: &AnyPool,
    course: &Course,
    module_id: &str,
    question_id: Option<&str>,
) -> Result<ReleasePreview, AssessError> {
    let questions = release_scope(course, module_id, question_id)?;
    let counts = store::graded_counts(pool, module_id).await?;
    let released = released(pool).await?;
    let module = course
        .module(module_id)
        .ok_or_else(|| AssessError::NotFound(format!("there is no module `{module_id}`")))?;
    let label = |id: &str| {
        module
            .questions
            .iter()
            .enumerate()
            .find(|(_, q)| q.id.as_ref() == id)
            .map_or_else(
                || id.to_owned(),
                |(i, q)| format!("Q{} {}", i + 1, q.summary()),
            )
    };
    let what = match question_id {
        Some(q) => format!("the grades of {}", label(q)),
        None => format!(
            "the grades of every instructor-graded question of {}",
            module.title
        ),
    };
    Ok(ReleasePreview {
        what,
        questions: questions
            .into_iter()
            .map(|q| {
                let (submitted, graded) = counts
                    .iter()
                    .find(|(id, _, _)| id == q)
                    .map_or((0, 0), |(_, s, g)| (*s as usize, *g as usize));
                PreviewRow {
                    question: label(q),
                    submitted,
                    graded,
                    released: released.contains(&(module_id.to_owned(), q.to_owned())),
                }
            })
            .collect(),
    })
}

/// Lets learners see the grades of one question, or of every open question of a module.
pub async fn release(
    pool: &AnyPool,
    course: &Course,
    released_by: i64,
    module_id: &str,
    question_id: Option<&str>,
) -> Result<usize, AssessError> {
    let questions = release_scope(course, module_id, question_id)?;
    store::release(pool, module_id, &questions, released_by).await?;
    Ok(questions.len())
}

/// Takes a release back: learners stop seeing those grades until they are released again.
pub async fn withdraw(
    pool: &AnyPool,
    course: &Course,
    module_id: &str,
    question_id: Option<&str>,
) -> Result<u64, AssessError> {
    let questions = release_scope(course, module_id, question_id)?;
    Ok(store::withdraw(pool, module_id, &questions).await?)
}

/// Where one instructor-graded question stands: how many latest submissions are graded, and
/// whether learners see the grades.
#[derive(Debug, Clone)]
pub struct QuestionRelease {
    /// Module.
    pub module_id: String,
    /// Question.
    pub question_id: String,
    /// Its position in the module, from 1.
    pub number: usize,
    /// Its prompt in one short line.
    pub summary: String,
    /// Learners see its grades.
    pub released: bool,
    /// Learners whose latest answer is submitted.
    pub submitted: usize,
    /// Of those, graded.
    pub graded: usize,
}

/// Every instructor-graded question of the course, in course order, with its release state and
/// graded counts: what the grading page lists and filters by.
pub async fn question_releases(
    pool: &AnyPool,
    course: &Course,
) -> Result<Vec<QuestionRelease>, AssessError> {
    let released = released(pool).await?;
    let mut states = Vec::new();
    for module in &course.modules {
        let counts = store::graded_counts(pool, module.id.as_ref()).await?;
        for (index, question) in module.questions.iter().enumerate() {
            if !question.kind.is_instructor_graded() {
                continue;
            }
            let (submitted, graded) = counts
                .iter()
                .find(|(id, _, _)| id == question.id.as_ref())
                .map_or((0, 0), |(_, s, g)| (*s as usize, *g as usize));
            states.push(QuestionRelease {
                module_id: module.id.to_string(),
                question_id: question.id.to_string(),
                number: index + 1,
                summary: question.summary(),
                released: released.contains(&(module.id.to_string(), question.id.to_string())),
                submitted,
                graded,
            });
        }
    }
    Ok(states)
}

/// The (module, question) pairs whose grades learners see.
pub async fn released(pool: &AnyPool) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let rows = store::releases(pool).await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(answer_id: i64, status: GradeStatus) -> QueueEntry {
        QueueEntry {
            answer_id,
            learner_id: answer_id,
            username: format!("learner{answer_id}"),
            cohort: None,
            module_id: "m".into(),
            question_id: "q".into(),
            question_number: 1,
            question_summary: "q".into(),
            version: 1,
            submitted_at: String::new(),
            status,
            score: None,
            points: 1,
            graded_by: None,
            released: false,
        }
    }

    #[test]
    fn the_next_answer_waits_after_the_current_one_and_a_skipped_one_comes_back_last() {
        use GradeStatus::*;
        let queue = [
            entry(1, Ungraded),
            entry(2, Ungraded),
            entry(3, NeedsReview),
            entry(4, Graded),
        ];
        let next = |current| next_waiting(&queue, current).map(|e| e.answer_id);
        assert_eq!(next(1), Some(2), "skipping 1 goes to 2");
        assert_eq!(next(2), Some(3), "needing another look counts as waiting");
        assert_eq!(next(3), Some(1), "goes round to the skipped one");
        assert_eq!(next(4), Some(1), "from a graded answer, the first waiting");
        assert_eq!(
            next(99),
            Some(1),
            "an answer outside the view starts at the top"
        );
        assert_eq!(next_waiting(&queue[..1], 1).map(|e| e.answer_id), None);
    }
}
