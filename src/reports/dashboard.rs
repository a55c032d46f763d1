//! The staff home: what waits for grading, which cohorts are behind, and what learners did last,
//! so an instructor's first page is their work rather than a learner's progress.

use std::collections::BTreeMap;

use sqlx::AnyPool;

use super::standing::{self, CohortStanding};
use crate::assess::AssessError;
use crate::assess::grading::{self, GradeStatus, QueueFilter};
use crate::auth::StaffScope;
use crate::content::Course;
use crate::progress::{self, RecentRun};

/// How many recent check runs and submissions the home lists.
const RECENT: usize = 8;

/// A question with answers waiting for a grade.
#[derive(Debug, Clone)]
pub struct WaitingQuestion {
    /// Module id (for the queue's filter).
    pub module_id: String,
    /// Question id (for the queue's filter).
    pub question_id: String,
    /// "Q8 What is the role of…".
    pub label: String,
    /// Ungraded, or flagged for another look after a rubric correction.
    pub waiting: usize,
}

/// A submitted written answer, for recent activity.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The answer (for its grading page).
    pub answer_id: i64,
    /// Whose.
    pub username: String,
    /// "Q8 What is the role of…".
    pub question: String,
    /// When (RFC 3339).
    pub submitted_at: String,
}

/// Everything on the staff home.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Questions with answers waiting, most waiting first.
    pub waiting: Vec<WaitingQuestion>,
    /// Graded answers learners cannot see yet (their question is not released).
    pub unreleased: usize,
    /// Cohorts, furthest behind first.
    pub cohorts: Vec<CohortStanding>,
    /// Learners within scope.
    pub learners: usize,
    /// The newest check runs.
    pub runs: Vec<RecentRun>,
    /// The newest submitted written answers.
    pub submissions: Vec<Submission>,
}

impl Dashboard {
    /// Answers waiting, over every question.
    pub fn waiting_total(&self) -> usize {
        self.waiting.iter().map(|w| w.waiting).sum()
    }
}

/// The staff home of someone whose learners are `scope`, at `now` (Unix seconds).
pub async fn build(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    now: i64,
) -> Result<Dashboard, AssessError> {
    let queue = grading::queue(pool, course, scope, &QueueFilter::default()).await?;
    let mut waiting: BTreeMap<(String, usize, String), WaitingQuestion> = BTreeMap::new();
    for entry in queue.iter().filter(|e| e.status != GradeStatus::Graded) {
        waiting
            .entry((
                entry.module_id.clone(),
                entry.question_number,
                entry.question_id.clone(),
            ))
            .or_insert_with(|| WaitingQuestion {
                module_id: entry.module_id.clone(),
                question_id: entry.question_id.clone(),
                label: entry.question_label(),
                waiting: 0,
            })
            .waiting += 1;
    }
    let mut waiting: Vec<WaitingQuestion> = waiting.into_values().collect();
    waiting.sort_by_key(|w| std::cmp::Reverse(w.waiting));
    let mut submissions: Vec<&grading::QueueEntry> = queue.iter().collect();
    submissions.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
    let learners = standing::learners(pool, course, scope, None, None, now).await?;
    Ok(Dashboard {
        unreleased: queue
            .iter()
            .filter(|e| e.status != GradeStatus::Ungraded && !e.released)
            .count(),
        waiting,
        cohorts: standing::cohorts(&learners),
        learners: learners.len(),
        runs: progress::recent_runs(pool, course, scope, RECENT).await?,
        submissions: submissions
            .into_iter()
            .take(RECENT)
            .map(|e| Submission {
                answer_id: e.answer_id,
                username: e.username.clone(),
                question: e.question_label(),
                submitted_at: e.submitted_at.clone(),
            })
            .collect(),
    })
}
