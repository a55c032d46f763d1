//! `lectern grades export`: the gradebook as CSV on standard output, for a spreadsheet or a
//! registrar's system.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::load_course;
use crate::auth::StaffScope;
use crate::config::GradesExportArgs;
use crate::reports::gradebook::{self, GradebookFilter};
use crate::{db, progress};

/// Writes the CSV (header row first); errors go to standard error with exit code 1.
pub async fn export(args: GradesExportArgs) -> ExitCode {
    match run(args).await {
        Ok(csv) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(csv.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the CSV: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: GradesExportArgs) -> anyhow::Result<String> {
    let course = load_course(args.content.as_deref())?;
    if let Some(module) = &args.module
        && !course.modules.iter().any(|m| m.id.as_ref() == module)
    {
        let known: Vec<&str> = course.modules.iter().map(|m| m.id.as_ref()).collect();
        anyhow::bail!(
            "there is no module `{module}`; the course has: {}",
            known.join(", ")
        );
    }
    let location = args.db.location();
    if let db::Location::Sqlite(path) = &location
        && !path.exists()
    {
        anyhow::bail!(
            "there is no database at {} (pass --db or set LECTERN_DB)",
            path.display()
        );
    }
    let pool = db::open(&location).await?;
    if let Some(cohort) = &args.cohort {
        let cohorts = progress::cohorts(&pool, StaffScope::Portal).await?;
        if !cohorts.contains(cohort) {
            eprintln!(
                "warning: no learner is in cohort `{cohort}` (cohorts: {})",
                if cohorts.is_empty() {
                    "none".to_owned()
                } else {
                    cohorts.join(", ")
                }
            );
        }
    }
    let filter = GradebookFilter {
        cohort: args.cohort,
        module: args.module,
        detail: args.detail,
    };
    let book = gradebook::build(&pool, &course, StaffScope::Portal, &filter)
        .await
        .context("cannot read the database")?;
    pool.close().await;
    Ok(gradebook::to_csv(&book.grades))
}
