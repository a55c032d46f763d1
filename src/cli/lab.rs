//! `lectern lab list` and `lectern lab check`: the lab checks in a terminal next to the cluster.

use std::process::ExitCode;

use serde_json::json;

use super::load_course;
use crate::config::{LabCheckArgs, OutputFormat};
use crate::content::{self, Lab, Step};
use crate::db;
use crate::labs::{self, Cluster, Status, StepRun};

/// Exit code when checks could not be run: bad arguments, unknown lab, unreachable cluster.
const NOT_RUN: u8 = 2;

/// Prints every lab id, one per line.
pub fn list(dir: Option<&std::path::Path>) -> ExitCode {
    match load_course(dir) {
        Ok(course) => {
            for lab in course.modules.iter().filter_map(|m| m.lab.as_ref()) {
                println!("{}", lab.id);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(NOT_RUN)
        }
    }
}

/// Runs the checks and reports; the exit code says whether all passed (0), some failed (1), or
/// they could not be run (2).
pub async fn check(args: LabCheckArgs) -> ExitCode {
    let fail = |message: String| {
        match args.output {
            OutputFormat::Json => println!(
                "{}",
                json!({ "lab": args.lab, "status": "error", "error": message })
            ),
            OutputFormat::Text => eprintln!("error: {message}"),
        }
        ExitCode::from(NOT_RUN)
    };
    let course = match load_course(args.content.as_deref()) {
        Ok(course) => course,
        Err(e) => return fail(format!("{e:#}")),
    };
    let Some((_, lab)) = course.lab(&args.lab) else {
        let known: Vec<String> = course
            .modules
            .iter()
            .filter_map(|m| Some(m.lab.as_ref()?.id.to_string()))
            .collect();
        return fail(format!(
            "no lab `{}` in this course (labs: {})",
            args.lab,
            known.join(", ")
        ));
    };
    let mut steps = Vec::new();
    for &n in &args.step {
        match lab.steps.iter().find(|s| s.number == n) {
            Some(step) if !step.checks.is_empty() => steps.push(step),
            Some(_) => return fail(format!("step {n} of lab `{}` has no checks", lab.id)),
            None => {
                return fail(format!(
                    "lab `{}` has no step {n} (it has steps 1 to {})",
                    lab.id,
                    lab.steps.len()
                ));
            }
        }
    }
    if args.step.is_empty() {
        steps = lab.steps.iter().filter(|s| !s.checks.is_empty()).collect();
    }
    let options = args.cluster.connect_options();
    let cluster = match Cluster::connect(&options).await {
        Ok(cluster) => cluster,
        Err(e) => return fail(e.to_string()),
    };
    let version = match cluster.ping().await {
        Ok(info) => info.git_version,
        Err(e) => return fail(e.to_string()),
    };
    // Lectern never writes; make sure the identity it was given could not either.
    let warnings = cluster.write_grants().await.unwrap_or_else(|e| {
        vec![format!(
            "could not verify that Lectern's identity is read-only: {e}"
        )]
    });
    if args.output == OutputFormat::Text {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
    }
    let cache = labs::ClusterCache::default();
    let targets = labs::Targets {
        cache: &cache,
        options: Some(&options),
        bridge: None,
        main: &cluster,
    };
    let pool = match db::open(&args.db.location()).await {
        Ok(pool) => Some(pool),
        Err(e) => {
            eprintln!("warning: results not recorded, and steps have no start: {e}");
            None
        }
    };
    let mut runs = Vec::new();
    for step in steps {
        runs.push(run_and_record(pool.as_ref(), &targets, lab, step, &args).await);
    }
    if let Some(pool) = pool {
        pool.close().await;
    }
    let all: Vec<_> = runs
        .iter()
        .flat_map(|r| r.results.iter())
        .cloned()
        .collect();
    let status = Status::of(&all);
    let count = |s: Status| all.iter().filter(|r| r.status == s).count();
    let total_ms: u64 = runs.iter().map(|r| r.duration_ms).sum();
    match args.output {
        OutputFormat::Json => {
            let document = json!({
                "lab": lab.id.to_string(),
                "cluster": cluster.url,
                "server_version": version,
                "status": status,
                "summary": { "passed": count(Status::Passed), "failed": count(Status::Failed), "error": count(Status::Error) },
                "duration_ms": total_ms,
                "warnings": warnings,
                "steps": runs,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
        }
        OutputFormat::Text => {
            println!("Lab {}: {}", lab.id, lab.title);
            println!("Cluster {} ({version})", cluster.url);
            for run in &runs {
                print_run(lab, run);
            }
            println!();
            println!(
                "{} passed, {} failed, {} could not be checked, in {total_ms} ms",
                count(Status::Passed),
                count(Status::Failed),
                count(Status::Error)
            );
        }
    }
    match status {
        Status::Passed => ExitCode::SUCCESS,
        Status::Failed => ExitCode::FAILURE,
        Status::Error => ExitCode::from(NOT_RUN),
    }
}

fn print_run(lab: &content::Lab, run: &StepRun) {
    let title = lab
        .steps
        .iter()
        .find(|s| s.id.as_ref() == run.step)
        .map_or("", |s| s.title.as_str());
    println!();
    println!("Step {}: {title}", run.step_number);
    for result in &run.results {
        let mark = match result.status {
            Status::Passed => "✔",
            Status::Failed => "✘",
            Status::Error => "!",
        };
        println!("  {mark} {} ({} ms)", result.title, result.duration_ms);
        println!("      {}", result.message);
        if result.status != Status::Passed && !result.hint.is_empty() {
            println!("      hint: {}", result.hint);
        }
    }
}

/// Records the runs for the local learner; a database problem is reported but does not hide the results.
/// Runs a step as the local learner (the one of personal mode): from its start, with what was
/// seen of it since (see [`labs::moment`]), and records the run. Without a database, checks hold
/// now and nothing is recorded.
async fn run_and_record(
    pool: Option<&sqlx::AnyPool>,
    targets: &labs::Targets<'_>,
    lab: &Lab,
    step: &Step,
    args: &LabCheckArgs,
) -> StepRun {
    let Some(pool) = pool else {
        return labs::run_step(targets, lab, step, &labs::Moment::default()).await;
    };
    let warn = |e: &dyn std::fmt::Display| {
        eprintln!(
            "warning: results not recorded in {}: {e}",
            args.db.location()
        )
    };
    let mut moment = match labs::moment(pool, db::LOCAL_LEARNER_ID, lab, step).await {
        Ok(moment) => moment,
        Err(e) => {
            warn(&e);
            labs::Moment::default()
        }
    };
    let run = labs::run_step(targets, lab, step, &moment).await;
    if let Err(e) = labs::record_with_sightings(
        pool,
        db::LOCAL_LEARNER_ID,
        step,
        run.clone(),
        labs::Via::Server,
        &mut moment,
    )
    .await
    {
        warn(&e);
    }
    run
}
