//! Learner progress, built from what learners did: modules opened, lab steps whose checks passed.
//! Instructors' views (cohort table, one learner's history, where a cohort is stuck) read the same
//! records.

mod feed;
mod history;
mod memory;
mod picture;
mod store;

pub use feed::RunFeed;
pub use history::{HistoryEntry, RecentRun, learner_history, recent_runs};
pub use memory::{FRESH_FOR, ProgressMemory};
pub use picture::{
    Cell, CellState, CohortPicture, Column, FunnelStep, InProgress, Row, Stuck, cohort_picture,
};
pub use store::{cohorts, member};

use std::collections::HashMap;

use serde::Serialize;
use sqlx::AnyPool;

use crate::auth::StaffScope;
use crate::content::Course;

/// One learner's progress in one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleProgress {
    /// The module.
    pub module_id: String,
    /// Its title.
    pub title: String,
    /// Whether the learner has opened it.
    pub opened: bool,
    /// Lab steps that have checks.
    pub steps_total: usize,
    /// Of those, the ones with a passed run.
    pub steps_passed: usize,
    /// When the last of those first passed (UTC, RFC 3339): a pass is kept, so this is when the
    /// learner's lab work last moved on.
    pub last_passed_at: Option<String>,
    /// Assessment questions.
    pub questions_total: usize,
    /// Of those, the ones with a submitted answer.
    pub questions_answered: usize,
    /// Points scored in the questions whose score the learner can see (choice questions once
    /// submitted, open ones once their grade is released).
    pub points_scored: u32,
    /// The points those questions are worth.
    pub points_graded: u32,
    /// The first step with checks not passed yet: its anchor on the module page.
    pub next_step: Option<(u32, String)>,
    /// All checked steps passed and all questions answered.
    pub complete: bool,
    /// When the learner last opened it (UTC, RFC 3339).
    pub last_opened_at: Option<String>,
}

impl ModuleProgress {
    /// Whole percent of the module's work done: checked lab steps passed and questions answered (a
    /// module with neither counts when opened).
    pub fn percent(&self) -> u32 {
        let (done, total) = self.work();
        (done * 100 / total) as u32
    }

    fn work(&self) -> (usize, usize) {
        match self.steps_total + self.questions_total {
            0 => (usize::from(self.opened), 1),
            total => (self.steps_passed + self.questions_answered, total),
        }
    }
}

/// One learner's progress in the course.
#[derive(Debug, Clone, Serialize)]
pub struct CourseProgress {
    /// In course order.
    pub modules: Vec<ModuleProgress>,
}

impl CourseProgress {
    /// Whole percent of the course's work done (lab steps passed, questions answered).
    pub fn percent(&self) -> u32 {
        let (done, total) = self
            .modules
            .iter()
            .map(ModuleProgress::work)
            .fold((0, 0), |(d, t), (dm, tm)| (d + dm, t + tm));
        (done * 100 / total.max(1)) as u32
    }

    /// Where to pick up: the most recently opened unfinished module at its first unpassed step, or
    /// the first module not started, at its beginning (its reading comes before its lab).
    pub fn continue_at(&self) -> Option<(&ModuleProgress, String)> {
        let recent = self
            .modules
            .iter()
            .filter(|m| m.opened && !m.complete)
            .max_by(|a, b| a.last_opened_at.cmp(&b.last_opened_at))
            .or_else(|| self.modules.iter().find(|m| !m.complete))?;
        let anchor = recent
            .next_step
            .as_ref()
            .filter(|_| recent.opened)
            .map(|(n, id)| format!("#step-{n}-{id}"))
            .unwrap_or_default();
        Some((recent, format!("/modules/{}{anchor}", recent.module_id)))
    }
}

/// Computes a learner's progress from their visits, check runs and submitted answers.
pub async fn for_learner(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
) -> Result<CourseProgress, sqlx::Error> {
    let answered = crate::assess::submitted(pool, learner_id).await?;
    with_answers(pool, course, learner_id, &answered).await
}

/// [`for_learner`], given the learner's submitted answers ([`crate::assess::submitted`]) by a
/// caller that needs them too (grade passback), so they are read once.
pub async fn with_answers(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
    answered: &HashMap<(String, String), crate::assess::VisibleScore>,
) -> Result<CourseProgress, sqlx::Error> {
    let visits = store::visits(pool, learner_id).await?;
    let passed = passed_steps(pool, learner_id).await?;
    Ok(computed(course, &visits, &passed, answered))
}

/// A learner's passed steps: (lab, step) → when it first passed.
async fn passed_steps(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<HashMap<(String, String), String>, sqlx::Error> {
    Ok(store::passed_steps(pool, learner_id)
        .await?
        .into_iter()
        .map(|(lab, step, at)| ((lab, step), at))
        .collect())
}

/// A learner's progress in `course` from what they did.
fn computed(
    course: &Course,
    visits: &HashMap<String, String>,
    passed: &HashMap<(String, String), String>,
    answered: &HashMap<(String, String), crate::assess::VisibleScore>,
) -> CourseProgress {
    CourseProgress {
        modules: course
            .modules
            .iter()
            .map(|m| module_progress(m, visits, passed, answered))
            .collect(),
    }
}

fn module_progress(
    module: &crate::content::Module,
    visits: &HashMap<String, String>,
    passed: &HashMap<(String, String), String>,
    answered: &HashMap<(String, String), crate::assess::VisibleScore>,
) -> ModuleProgress {
    let mut questions_answered = 0;
    let (mut points_scored, mut points_graded) = (0, 0);
    for q in &module.questions {
        match answered
            .get(&(module.id.to_string(), q.id.to_string()))
            .map(|a| a.score)
        {
            Some(Some(score)) => {
                questions_answered += 1;
                points_scored += score;
                points_graded += q.points;
            }
            Some(None) => questions_answered += 1,
            None => {}
        }
    }
    let (lab_id, checked): (String, Vec<&crate::content::Step>) = match &module.lab {
        Some(lab) => (
            lab.id.to_string(),
            lab.steps.iter().filter(|s| !s.checks.is_empty()).collect(),
        ),
        None => (String::new(), Vec::new()),
    };
    let passed_at = |s: &crate::content::Step| passed.get(&(lab_id.clone(), s.id.to_string()));
    let is_passed = |s: &crate::content::Step| passed_at(s).is_some();
    let steps_passed = checked.iter().filter(|s| is_passed(s)).count();
    let last_passed_at = checked.iter().filter_map(|s| passed_at(s)).max().cloned();
    let next_step = checked
        .iter()
        .find(|s| !is_passed(s))
        .map(|s| (s.number, s.id.to_string()));
    let last_opened_at = visits.get(module.id.as_ref()).cloned();
    ModuleProgress {
        module_id: module.id.to_string(),
        title: module.title.clone(),
        opened: last_opened_at.is_some(),
        steps_total: checked.len(),
        steps_passed,
        last_passed_at,
        questions_total: module.questions.len(),
        questions_answered,
        points_scored,
        points_graded,
        complete: checked.len() + module.questions.len() > 0
            && steps_passed == checked.len()
            && questions_answered == module.questions.len(),
        next_step,
        last_opened_at,
    }
}

/// One row of the cohort table: a learner and their lab steps passed per module.
#[derive(Debug, Clone, Serialize)]
pub struct CohortRow {
    /// Who.
    pub member: store::CohortMember,
    /// Per module, in course order.
    pub modules: Vec<LabSteps>,
}

/// A learner's lab steps in one module, as the cohort table and the gradebook show them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabSteps {
    /// Steps with checks passed (a pass is kept).
    pub passed: usize,
    /// Steps with checks.
    pub total: usize,
    /// When the last of the passed steps first passed (UTC, RFC 3339).
    pub last_passed_at: Option<String>,
}

/// The cohort table: learners × modules, of the learners within the staff member's scope.
pub async fn cohort_table(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    cohort: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<CohortRow>, sqlx::Error> {
    let passed: HashMap<(i64, String, String), String> = store::passed_by_learner(pool)
        .await?
        .into_iter()
        .map(|(learner, lab, step, at)| ((learner, lab, step), at))
        .collect();
    let members = store::members(pool, scope, cohort, name).await?;
    Ok(members
        .into_iter()
        .map(|member| {
            let modules = course
                .modules
                .iter()
                .map(|m| match &m.lab {
                    Some(lab) => {
                        let checked: Vec<_> =
                            lab.steps.iter().filter(|s| !s.checks.is_empty()).collect();
                        let times: Vec<&String> = checked
                            .iter()
                            .filter_map(|s| {
                                passed.get(&(
                                    member.learner_id,
                                    lab.id.to_string(),
                                    s.id.to_string(),
                                ))
                            })
                            .collect();
                        LabSteps {
                            passed: times.len(),
                            total: checked.len(),
                            last_passed_at: times.into_iter().max().cloned(),
                        }
                    }
                    None => LabSteps::default(),
                })
                .collect();
            CohortRow { member, modules }
        })
        .collect())
}
