//! The gradebook: per learner and module, lab steps passed, the auto-graded and instructor-graded
//! scores and their total, with cohort averages; per-question and per-criterion columns on request;
//! and a CSV form that is safe to open in a spreadsheet.

use std::collections::{BTreeMap, HashMap};

use sqlx::AnyPool;

use crate::assess::rubrics::{self, RubricCriterion};
use crate::assess::{self, Answered};
use crate::auth::StaffScope;
use crate::content::{Course, Module};
use crate::progress;

/// How much the gradebook breaks scores down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Detail {
    /// Totals per module only.
    #[default]
    Summary,
    /// Also one column per question.
    Questions,
    /// Also one column per question and per rubric criterion.
    Criteria,
}

impl Detail {
    /// `summary`, `questions` or `criteria`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" | "summary" => Ok(Detail::Summary),
            "questions" => Ok(Detail::Questions),
            "criteria" => Ok(Detail::Criteria),
            other => Err(format!(
                "unknown detail `{other}`: use summary, questions or criteria"
            )),
        }
    }
}

/// Which rows and columns to include; `None` means all.
#[derive(Debug, Clone, Default)]
pub struct GradebookFilter {
    /// Only this cohort's learners.
    pub cohort: Option<String>,
    /// Only this module.
    pub module: Option<String>,
    /// Breakdown columns.
    pub detail: Detail,
}

/// One cell: text, or a number that may be missing (not answered, not graded).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A name.
    Text(String),
    /// Points or a count.
    Number(Option<u32>),
    /// An average.
    Mean(Option<f64>),
    /// Points (or steps) out of a whole, as people read them: `7 / 12 (58%)`. Only on the page,
    /// where a constant whole is not a column of its own.
    Share {
        /// What was scored (a mean in the averages); `None`: nothing yet.
        got: Option<f64>,
        /// Out of.
        of: u32,
    },
}

impl Cell {
    /// What the page sorts the column by: a share's percentage, a number, or the text.
    pub fn sort_key(&self) -> String {
        match self {
            Cell::Share { got: Some(got), of } => format!("{:.1}", share_percent(*got, *of)),
            Cell::Share { .. } => "0".to_owned(),
            other => other.to_string(),
        }
    }
}

/// `got` out of `of` in percent (0 of nothing is 0).
fn share_percent(got: f64, of: u32) -> f64 {
    if of == 0 {
        0.0
    } else {
        got * 100.0 / f64::from(of)
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Text(text) => f.write_str(text),
            Cell::Number(Some(n)) => write!(f, "{n}"),
            Cell::Mean(Some(m)) => write!(f, "{m:.1}"),
            Cell::Share { got: Some(got), of } => {
                let percent = share_percent(*got, *of);
                if got.fract() == 0.0 {
                    write!(f, "{got} / {of} ({percent:.0}%)")
                } else {
                    write!(f, "{got:.1} / {of} ({percent:.0}%)")
                }
            }
            Cell::Number(None) | Cell::Mean(None) | Cell::Share { got: None, .. } => Ok(()),
        }
    }
}

/// Headed rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column headings: stable keys (question ids) for the CSV.
    pub columns: Vec<String>,
    /// The same headings as people read them on the page (questions by number and prompt).
    pub labels: Vec<String>,
    /// Each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

/// The gradebook and its cohort averages.
#[derive(Debug, Clone)]
pub struct Gradebook {
    /// One row per learner and module, every figure in its own column (the CSV).
    pub grades: Table,
    /// The same rows for the page: each score beside its whole as one share (`7 / 12 (58%)`).
    pub shares: Table,
    /// One row per cohort and module: the mean of each score (out of its whole, which is the same
    /// for everyone in a module), the sum of the counts of answers waiting.
    pub averages: Table,
}

/// Score columns shown on the page as a share of the column after them, under one heading.
const SHARES: [(&str, &str, &str); 4] = [
    ("Lab steps passed", "Lab steps", "Lab steps passed"),
    ("Auto-graded score", "Auto-graded points", "Auto-graded"),
    ("Instructor score", "Instructor points", "Instructor-graded"),
    ("Total score", "Total points", "Total"),
];

/// Columns the averages add up rather than average: work waiting is a count for the cohort.
const SUMMED: [&str; 2] = ["Awaiting grading", "Grades not released"];

/// The columns of one module's questions and criteria.
struct Breakdown<'a> {
    module: &'a Module,
    /// Per open question: its latest recorded rubric version and criteria.
    criteria: HashMap<&'a str, (i64, Vec<RubricCriterion>)>,
}

const FIXED: [&str; 3] = ["Learner", "Cohort", "Module"];
const TOTALS: [&str; 11] = [
    "Lab steps passed",
    "Lab steps",
    "Last step passed at",
    "Auto-graded score",
    "Auto-graded points",
    "Instructor score",
    "Instructor points",
    "Total score",
    "Total points",
    "Awaiting grading",
    "Grades not released",
];

/// Builds the gradebook from what is recorded, for the learners (accounts with the learner role)
/// within the staff member's scope and the modules the filter selects. Instructor scores include grades not yet released to learners.
pub async fn build(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    filter: &GradebookFilter,
) -> Result<Gradebook, sqlx::Error> {
    let progress =
        progress::cohort_table(pool, course, scope, filter.cohort.as_deref(), None).await?;
    let answers = assess::current_submissions(pool).await?;
    let released = assess::grading::released(pool).await?;
    let recorded = rubrics::all(pool).await?;
    let modules: Vec<(usize, &Module)> = course
        .modules
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            filter
                .module
                .as_deref()
                .is_none_or(|id| m.id.as_ref() == id)
        })
        .collect();
    let breakdowns: Vec<Breakdown<'_>> = modules
        .iter()
        .map(|(_, module)| Breakdown {
            module,
            criteria: module
                .questions
                .iter()
                .filter(|q| q.kind.is_instructor_graded())
                .map(|q| {
                    let latest = recorded
                        .iter()
                        .filter(|((m, id, _), _)| m == module.id.as_ref() && id == q.id.as_ref())
                        .max_by_key(|((_, _, v), _)| *v)
                        .map(|((_, _, v), c)| (*v, c.clone()));
                    (q.id.as_ref(), latest.unwrap_or_default())
                })
                .collect(),
        })
        .collect();

    let mut columns: Vec<String> = FIXED.iter().chain(&TOTALS).map(|c| c.to_string()).collect();
    let mut labels = columns.clone();
    if filter.detail >= Detail::Questions {
        for b in &breakdowns {
            for (number, q) in b.module.questions.iter().enumerate() {
                columns.push(format!("{}/{} ({} pts)", b.module.id, q.id, q.points));
                labels.push(format!(
                    "Q{} {} ({} pts)",
                    number + 1,
                    q.summary(),
                    q.points
                ));
                if filter.detail == Detail::Criteria {
                    for c in b
                        .criteria
                        .get(q.id.as_ref())
                        .into_iter()
                        .flat_map(|(_, c)| c)
                    {
                        columns.push(format!("{}: {} ({} pts)", q.id, c.criterion, c.points));
                        labels.push(format!(
                            "Q{}: {} ({} pts)",
                            number + 1,
                            c.criterion,
                            c.points
                        ));
                    }
                }
            }
        }
    }

    let mut rows = Vec::new();
    for learner in &progress {
        for (index, module) in &modules {
            let lab = &learner.modules[*index];
            let mut auto = (0, 0);
            let mut instructor = (0, 0);
            let (mut awaiting, mut unreleased) = (0, 0);
            let mut scores: HashMap<&str, (Option<u32>, Option<&Answered>)> = HashMap::new();
            for q in &module.questions {
                let key = (
                    learner.member.learner_id,
                    module.id.to_string(),
                    q.id.to_string(),
                );
                let answer = answers.get(&key);
                if q.kind.is_instructor_graded() {
                    let score = answer.and_then(|a| a.grade.as_ref()).map(|g| g.0);
                    instructor.0 += score.unwrap_or(0);
                    instructor.1 += q.points;
                    match answer.map(|a| a.grade.is_some()) {
                        Some(false) => awaiting += 1,
                        Some(true) if !released.contains(&(key.1, key.2)) => unreleased += 1,
                        _ => {}
                    }
                    scores.insert(q.id.as_ref(), (score, answer));
                } else {
                    let score = answer.and_then(|a| a.auto_score);
                    auto.0 += score.unwrap_or(0);
                    auto.1 += q.points;
                    scores.insert(q.id.as_ref(), (score, answer));
                }
            }
            let mut row = vec![
                Cell::Text(learner.member.username.clone()),
                Cell::Text(learner.member.cohort.clone().unwrap_or_default()),
                Cell::Text(module.id.to_string()),
            ];
            row.extend([
                Cell::Number(Some(lab.passed as u32)),
                Cell::Number(Some(lab.total as u32)),
                Cell::Text(lab.last_passed_at.clone().unwrap_or_default()),
            ]);
            row.extend(
                [
                    auto.0,
                    auto.1,
                    instructor.0,
                    instructor.1,
                    auto.0 + instructor.0,
                    auto.1 + instructor.1,
                    awaiting,
                    unreleased,
                ]
                .map(|n| Cell::Number(Some(n))),
            );
            if filter.detail >= Detail::Questions {
                for b in &breakdowns {
                    let same_module = b.module.id == module.id;
                    for q in &b.module.questions {
                        let (score, answer) = scores
                            .get(q.id.as_ref())
                            .filter(|_| same_module)
                            .copied()
                            .unwrap_or_default();
                        row.push(Cell::Number(score));
                        if filter.detail == Detail::Criteria {
                            let Some((version, criteria)) = b.criteria.get(q.id.as_ref()) else {
                                continue;
                            };
                            let given = answer
                                .and_then(|a| a.grade.as_ref())
                                .filter(|g| g.1 == *version)
                                .map_or(&[][..], |g| &g.2[..]);
                            row.extend(
                                (0..criteria.len())
                                    .map(|i| Cell::Number(given.get(i).copied().flatten())),
                            );
                        }
                    }
                }
            }
            rows.push(row);
        }
    }
    let grades = Table {
        columns,
        labels,
        rows,
    };
    let shares = shares(&grades);
    Ok(Gradebook {
        averages: averages(&shares),
        shares,
        grades,
    })
}

/// The table with each score and its whole merged into one share column.
fn shares(table: &Table) -> Table {
    let mut columns = Vec::new();
    let mut labels = Vec::new();
    // Per output column: the source column, and its whole's column for a share.
    let mut sources: Vec<(usize, Option<usize>)> = Vec::new();
    let position = |name: &str| table.columns.iter().position(|c| c == name);
    for (i, column) in table.columns.iter().enumerate() {
        if SHARES.iter().any(|(_, whole, _)| whole == column) {
            continue;
        }
        match SHARES.iter().find(|(score, _, _)| score == column) {
            Some((_, whole, heading)) => {
                columns.push((*heading).to_owned());
                labels.push((*heading).to_owned());
                sources.push((i, position(whole)));
            }
            None => {
                columns.push(column.clone());
                labels.push(table.labels[i].clone());
                sources.push((i, None));
            }
        }
    }
    let rows = table
        .rows
        .iter()
        .map(|row| {
            sources
                .iter()
                .map(|(i, whole)| match (whole.map(|w| &row[w]), &row[*i]) {
                    (Some(Cell::Number(Some(of))), Cell::Number(got)) => Cell::Share {
                        got: got.map(f64::from),
                        of: *of,
                    },
                    (_, cell) => cell.clone(),
                })
                .collect()
        })
        .collect();
    Table {
        columns,
        labels,
        rows,
    }
}

/// Per (cohort, module), over the learners that have a value: the mean of each score (a share keeps
/// its whole, the same for the whole module), the sum of the [`SUMMED`] counts.
fn averages(table: &Table) -> Table {
    let (columns, labels, rows) = (&table.columns, &table.labels, &table.rows);
    let mut groups: BTreeMap<(String, String), Vec<&Vec<Cell>>> = BTreeMap::new();
    for row in rows {
        let cohort = match &row[1] {
            Cell::Text(c) if !c.is_empty() => c.clone(),
            _ => "(no cohort)".to_owned(),
        };
        groups
            .entry((cohort, row[2].to_string()))
            .or_default()
            .push(row);
    }
    // Every column after the fixed ones that holds figures (not a date, say).
    let numeric: Vec<usize> = (FIXED.len()..columns.len())
        .filter(|&i| !rows.iter().any(|r| matches!(r[i], Cell::Text(_))))
        .collect();
    let mut headings = vec![
        "Cohort".to_owned(),
        "Module".to_owned(),
        "Learners".to_owned(),
    ];
    let mut heading_labels = headings.clone();
    headings.extend(numeric.iter().map(|&i| columns[i].clone()));
    heading_labels.extend(numeric.iter().map(|&i| labels[i].clone()));
    let rows = groups
        .into_iter()
        .map(|((cohort, module), members)| {
            let mut row = vec![
                Cell::Text(cohort),
                Cell::Text(module),
                Cell::Number(Some(members.len() as u32)),
            ];
            row.extend(numeric.iter().map(|&i| {
                let values: Vec<f64> = members
                    .iter()
                    .filter_map(|r| match r[i] {
                        Cell::Number(Some(n)) => Some(f64::from(n)),
                        Cell::Share { got, .. } => got,
                        _ => None,
                    })
                    .collect();
                let mean =
                    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
                match members.first().map(|r| &r[i]) {
                    Some(Cell::Share { of, .. }) => Cell::Share { got: mean, of: *of },
                    _ if SUMMED.contains(&columns[i].as_str()) => {
                        Cell::Number(Some(values.iter().sum::<f64>() as u32))
                    }
                    _ => Cell::Mean(mean),
                }
            }));
            row
        })
        .collect();
    Table {
        columns: headings,
        labels: heading_labels,
        rows,
    }
}

/// The table as CSV (RFC 4180: comma-separated, CRLF line ends, quoted where needed; UTF-8), header
/// row first. A cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`,
/// so a spreadsheet shows it as text instead of running it as a formula.
pub fn to_csv(table: &Table) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let neutralise = |cell: String| {
        if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{cell}")
        } else {
            cell
        }
    };
    let lines = std::iter::once(table.columns.clone()).chain(
        table
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::to_string).collect()),
    );
    for line in lines {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(line.into_iter().map(neutralise));
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180_and_neutralises_formulas() {
        let table = Table {
            columns: vec!["Learner".into(), "Note".into()],
            labels: Vec::new(),
            rows: vec![
                vec![
                    Cell::Text("=HYPERLINK(\"x\")".into()),
                    Cell::Number(Some(3)),
                ],
                vec![Cell::Text("a,b \"c\"\nd".into()), Cell::Number(None)],
                vec![Cell::Text("+1".into()), Cell::Text("-2".into())],
                vec![Cell::Text("@sum".into()), Cell::Text("\tx".into())],
                vec![Cell::Text("\rx".into()), Cell::Text("Zoë".into())],
            ],
        };
        assert_eq!(
            to_csv(&table),
            "Learner,Note\r\n\"'=HYPERLINK(\"\"x\"\")\",3\r\n\"a,b \"\"c\"\"\nd\",\r\n'+1,'-2\r\n'@sum,'\tx\r\n\"'\rx\",Zoë\r\n"
        );
    }
}
