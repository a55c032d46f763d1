//! Where each learner stands: the cohort table's lab steps per module with the points they scored
//! in questions (graded ones included before release, as staff see them) and how long they have
//! been idle; and the same per cohort, for the staff home.

use std::collections::BTreeMap;

use sqlx::AnyPool;

use crate::assess::grading::{self, QueueFilter};
use crate::assess::{self, AssessError};
use crate::auth::StaffScope;
use crate::content::Course;
use crate::progress::{self, CohortRow};

/// A learner without activity for this many days is flagged as inactive, unless the page asks for
/// another number.
pub const INACTIVE_AFTER_DAYS: i64 = 7;

/// One learner's line in the cohort table.
#[derive(Debug, Clone)]
pub struct LearnerStanding {
    /// Who, and their lab steps per module.
    pub row: CohortRow,
    /// Points scored in questions: choice answers, and open answers' current grades.
    pub points: u32,
    /// Points of every question in the course.
    pub points_total: u32,
    /// Submitted open answers with no grade yet.
    pub awaiting: usize,
    /// Whole days since their latest activity; `None` if they never did anything.
    pub idle_days: Option<i64>,
}

impl LearnerStanding {
    /// Lab steps passed, in whole percent of the course's checked steps.
    pub fn lab_percent(&self) -> u32 {
        let (passed, total) = self
            .row
            .modules
            .iter()
            .fold((0, 0), |(p, t), m| (p + m.passed, t + m.total));
        percent(passed as u32, total as u32)
    }

    /// Points scored, in whole percent of the course's points.
    pub fn points_percent(&self) -> u32 {
        percent(self.points, self.points_total)
    }

    /// Active once, but not for `days` or more.
    pub fn inactive_for(&self, days: i64) -> bool {
        self.idle_days.is_some_and(|idle| idle >= days)
    }
}

/// `part` of `whole` in whole percent (0 of nothing is 0).
pub fn percent(part: u32, whole: u32) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

/// The cohort table with scores: learners within the staff member's scope, optionally of one
/// cohort and matching a name, at `now` (Unix seconds).
pub async fn learners(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    cohort: Option<&str>,
    name: Option<&str>,
    now: i64,
) -> Result<Vec<LearnerStanding>, sqlx::Error> {
    let rows = progress::cohort_table(pool, course, scope, cohort, name).await?;
    let answers = assess::current_submissions(pool).await?;
    let questions: Vec<_> = course
        .modules
        .iter()
        .flat_map(|m| m.questions.iter().map(move |q| (m, q)))
        .collect();
    let points_total = questions.iter().map(|(_, q)| q.points).sum();
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mut points, mut awaiting) = (0, 0);
            for (module, question) in &questions {
                let key = (
                    row.member.learner_id,
                    module.id.to_string(),
                    question.id.to_string(),
                );
                let Some(answer) = answers.get(&key) else {
                    continue;
                };
                match (&answer.grade, answer.auto_score) {
                    (Some(grade), _) => points += grade.0,
                    (None, Some(score)) => points += score,
                    (None, None) if question.kind.is_instructor_graded() => awaiting += 1,
                    (None, None) => {}
                }
            }
            LearnerStanding {
                idle_days: row.member.idle_days(now),
                row,
                points,
                points_total,
                awaiting,
            }
        })
        .collect())
}

/// One cohort on the staff home.
#[derive(Debug, Clone)]
pub struct CohortStanding {
    /// Its name; `None` for learners in no cohort.
    pub cohort: Option<String>,
    /// How many learners.
    pub learners: usize,
    /// The mean of their lab steps passed, in whole percent.
    pub lab_percent: u32,
    /// Active once, idle for [`INACTIVE_AFTER_DAYS`] or more.
    pub inactive: usize,
    /// Never did anything.
    pub not_started: usize,
}

/// Per cohort, the furthest behind first (lowest mean of lab steps passed).
pub fn cohorts(learners: &[LearnerStanding]) -> Vec<CohortStanding> {
    let mut groups: BTreeMap<Option<&str>, Vec<&LearnerStanding>> = BTreeMap::new();
    for learner in learners {
        groups
            .entry(learner.row.member.cohort.as_deref())
            .or_default()
            .push(learner);
    }
    let mut cohorts: Vec<CohortStanding> = groups
        .into_iter()
        .map(|(cohort, members)| CohortStanding {
            cohort: cohort.map(str::to_owned),
            learners: members.len(),
            lab_percent: members.iter().map(|m| m.lab_percent()).sum::<u32>()
                / members.len() as u32,
            inactive: members
                .iter()
                .filter(|m| m.inactive_for(INACTIVE_AFTER_DAYS))
                .count(),
            not_started: members.iter().filter(|m| m.idle_days.is_none()).count(),
        })
        .collect();
    cohorts.sort_by(|a, b| (a.lab_percent, &a.cohort).cmp(&(b.lab_percent, &b.cohort)));
    cohorts
}

/// One answered question on a learner's history page.
#[derive(Debug, Clone)]
pub struct AnswerLine {
    /// "Q8 What is the role of…", numbered within its module.
    pub question: String,
    /// The module's title.
    pub module: String,
    /// The question's points.
    pub points: u32,
    /// A written answer's latest submitted version, for its grading page; `None` for a choice.
    pub written: Option<grading::QueueEntry>,
    /// A choice answer's score (graded when submitted).
    pub choice_score: Option<u32>,
}

/// Everything an instructor reads about one learner: their check runs and their answers.
#[derive(Debug, Clone)]
pub struct LearnerRecord {
    /// User name.
    pub username: String,
    /// Cohort.
    pub cohort: Option<String>,
    /// Check runs, newest first.
    pub runs: Vec<progress::HistoryEntry>,
    /// Submitted answers, in course order.
    pub answers: Vec<AnswerLine>,
}

/// The record of learner `learner_id`, if they are a learner within the staff member's scope.
pub async fn record(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    learner_id: i64,
) -> Result<Option<LearnerRecord>, AssessError> {
    let Some((username, cohort)) = progress::member(pool, scope, learner_id).await? else {
        return Ok(None);
    };
    let filter = QueueFilter {
        learner: Some(username.clone()),
        ..QueueFilter::default()
    };
    let written: Vec<grading::QueueEntry> = grading::queue(pool, course, scope, &filter)
        .await?
        .into_iter()
        .filter(|e| e.learner_id == learner_id)
        .collect();
    let choices = assess::current_submissions(pool).await?;
    let mut answers = Vec::new();
    for module in &course.modules {
        for (number, question) in module.questions.iter().enumerate() {
            let line = |written, choice_score| AnswerLine {
                question: format!("Q{} {}", number + 1, question.summary()),
                module: module.title.clone(),
                points: question.points,
                written,
                choice_score,
            };
            if question.kind.is_instructor_graded() {
                if let Some(entry) = written.iter().find(|e| {
                    e.module_id == module.id.as_ref() && e.question_id == question.id.as_ref()
                }) {
                    answers.push(line(Some(entry.clone()), None));
                }
            } else if let Some(answered) =
                choices.get(&(learner_id, module.id.to_string(), question.id.to_string()))
            {
                answers.push(line(None, answered.auto_score));
            }
        }
    }
    Ok(Some(LearnerRecord {
        runs: progress::learner_history(pool, course, learner_id).await?,
        username,
        cohort,
        answers,
    }))
}
