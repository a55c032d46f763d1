//! The cohort as a picture: learners × lab checks (passed, failing, not started), how far the
//! cohort got step by step, and where it is stuck: checks learners *tried* and are failing, each
//! observation naming its learners.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::AnyPool;

use super::store::{self, CohortMember};
use crate::auth::StaffScope;
use crate::content::Course;
use crate::labs::{CheckResult, Status};

/// A column of the heatmap: one check of a lab step.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The step's number.
    pub step_number: u32,
    /// The step's id (for links to the step).
    pub step_id: String,
    /// The step's title.
    pub step_title: String,
    /// The check's id.
    pub check_id: String,
    /// The check's title.
    pub check_title: String,
}

/// Where a learner is on one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// Their latest run of the step passed this check.
    Passed,
    /// Their latest run of the step failed this check (or could not check it).
    Failing,
    /// They never checked the step.
    NotStarted,
}

impl CellState {
    /// In words, for the cell's title and accessible name.
    pub fn label(self) -> &'static str {
        match self {
            CellState::Passed => "passed",
            CellState::Failing => "failing",
            CellState::NotStarted => "not checked yet",
        }
    }

    /// `passed`, `failing`, `not-started`: the cell's CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Passed => "passed",
            CellState::Failing => "failing",
            CellState::NotStarted => "not-started",
        }
    }
}

/// One learner on one check.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The state.
    pub state: CellState,
    /// What their latest run observed (empty when not started).
    pub observed: String,
}

/// One learner's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Who.
    pub member: CohortMember,
    /// One per column.
    pub cells: Vec<Cell>,
}

/// How far the cohort got on one step.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelStep {
    /// The step's number.
    pub step_number: u32,
    /// Its title.
    pub step_title: String,
    /// Learners who checked it at least once.
    pub reached: usize,
    /// Learners whose latest run of it passed.
    pub passed: usize,
}

/// A check learners tried and are failing.
#[derive(Debug, Clone, Serialize)]
pub struct Stuck {
    /// The check.
    pub column: Column,
    /// Learners failing it.
    pub failing: usize,
    /// Learners who tried it.
    pub tried: usize,
    /// Each distinct observation, with the learners (name, id) who got it, commonest first.
    pub observations: Vec<(String, Vec<(String, i64)>)>,
}

/// A learner working on a step: started, not passed.
#[derive(Debug, Clone, Serialize)]
pub struct InProgress {
    /// The step's number.
    pub step_number: u32,
    /// Its title.
    pub step_title: String,
    /// The learner's name.
    pub username: String,
    /// Their learner id.
    pub learner_id: i64,
    /// When they started it (the database's timestamp text).
    pub started_at: String,
    /// For how many minutes.
    pub minutes: i64,
    /// The first check their latest run failed, if they checked it.
    pub failing: Option<String>,
}

/// The whole picture of a cohort.
#[derive(Debug, Clone, Serialize)]
pub struct CohortPicture {
    /// Learners in the cohort.
    pub learners: usize,
    /// Heatmap columns, in course order.
    pub columns: Vec<Column>,
    /// Heatmap rows, by user name.
    pub rows: Vec<Row>,
    /// Steps with checks, in course order.
    pub funnel: Vec<FunnelStep>,
    /// Tried-and-failing checks, most learners failing first.
    pub stuck: Vec<Stuck>,
    /// Learners on a step they started and have not passed, by step, the longest first.
    pub in_progress: Vec<InProgress>,
}

/// Builds the picture of a cohort (or of every learner) from their latest run of each step.
pub async fn cohort_picture(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    cohort: Option<&str>,
) -> Result<CohortPicture, sqlx::Error> {
    let members = store::members(pool, scope, cohort, None).await?;
    // Each learner's latest results per step, and whether the step ever passed: a pass is kept,
    // so a later failing run does not put a learner back among those stuck.
    let mut latest: HashMap<(i64, String, String), (Vec<CheckResult>, bool)> = HashMap::new();
    for (learner, lab, step, results, ever_passed) in
        store::latest_runs(pool, scope, cohort).await?
    {
        latest.insert(
            (learner, lab, step),
            (
                serde_json::from_str(&results).unwrap_or_default(),
                ever_passed == 1,
            ),
        );
    }
    let mut columns = Vec::new();
    let mut funnel = Vec::new();
    let mut keys = Vec::new();
    for lab in course.modules.iter().filter_map(|m| m.lab.as_ref()) {
        for step in lab.steps.iter().filter(|s| !s.checks.is_empty()) {
            let key = |learner: i64| (learner, lab.id.to_string(), step.id.to_string());
            let runs: Vec<&(Vec<CheckResult>, bool)> = members
                .iter()
                .filter_map(|m| latest.get(&key(m.learner_id)))
                .collect();
            funnel.push(FunnelStep {
                step_number: step.number,
                step_title: step.title.clone(),
                reached: runs.len(),
                passed: runs.iter().filter(|(_, ever_passed)| *ever_passed).count(),
            });
            for check in &step.checks {
                columns.push(Column {
                    step_number: step.number,
                    step_id: step.id.to_string(),
                    step_title: step.title.clone(),
                    check_id: check.id.clone(),
                    check_title: check.title.clone(),
                });
                keys.push((lab.id.to_string(), step.id.to_string(), check.id.clone()));
            }
        }
    }
    let cell = |learner: i64, (lab, step, check): &(String, String, String)| {
        let (result, ever_passed) = match latest.get(&(learner, lab.clone(), step.clone())) {
            Some((results, ever_passed)) => (results.iter().find(|r| &r.id == check), *ever_passed),
            None => (None, false),
        };
        let state = match result {
            _ if ever_passed => CellState::Passed,
            None => CellState::NotStarted,
            Some(r) if r.status == Status::Passed => CellState::Passed,
            Some(_) => CellState::Failing,
        };
        Cell {
            state,
            observed: result.map(|r| r.message.clone()).unwrap_or_default(),
        }
    };
    let rows: Vec<Row> = members
        .into_iter()
        .map(|member| Row {
            cells: keys.iter().map(|k| cell(member.learner_id, k)).collect(),
            member,
        })
        .collect();
    let mut stuck: Vec<Stuck> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, column)| {
            let mut by_observation: HashMap<&str, Vec<(String, i64)>> = HashMap::new();
            let mut tried = 0;
            for row in &rows {
                match row.cells[i].state {
                    CellState::NotStarted => {}
                    CellState::Passed => tried += 1,
                    CellState::Failing => {
                        tried += 1;
                        by_observation
                            .entry(&row.cells[i].observed)
                            .or_default()
                            .push((row.member.username.clone(), row.member.learner_id));
                    }
                }
            }
            let failing: usize = by_observation.values().map(Vec::len).sum();
            if failing == 0 {
                return None;
            }
            let mut observations: Vec<(String, Vec<(String, i64)>)> = by_observation
                .into_iter()
                .map(|(observed, learners)| (observed.to_owned(), learners))
                .collect();
            observations.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
            Some(Stuck {
                column: column.clone(),
                failing,
                tried,
                observations,
            })
        })
        .collect();
    stuck.sort_by(|a, b| {
        b.failing
            .cmp(&a.failing)
            .then(a.column.step_number.cmp(&b.column.step_number))
    });
    let now = crate::clock::unix_seconds();
    let mut in_progress: Vec<InProgress> = store::started_not_passed(pool, scope, cohort)
        .await?
        .into_iter()
        .filter_map(|(learner_id, lab, step, started_at)| {
            let member = rows.iter().find(|r| r.member.learner_id == learner_id)?;
            let (_, step_def) = course.lab_step(&lab, &step)?;
            let failing = latest
                .get(&(learner_id, lab.clone(), step.clone()))
                .and_then(|(results, _)| results.iter().find(|r| r.status != Status::Passed))
                .map(|r| r.title.clone());
            let minutes = (now - crate::clock::seconds_of_timestamp(&started_at)).max(0) / 60;
            Some(InProgress {
                step_number: step_def.number,
                step_title: step_def.title.clone(),
                username: member.member.username.clone(),
                learner_id,
                started_at,
                minutes,
                failing,
            })
        })
        .collect();
    in_progress.sort_by(|a, b| {
        a.step_number
            .cmp(&b.step_number)
            .then(b.minutes.cmp(&a.minutes))
    });
    Ok(CohortPicture {
        learners: rows.len(),
        columns,
        rows,
        funnel,
        stuck,
        in_progress,
    })
}
