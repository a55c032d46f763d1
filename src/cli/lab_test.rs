//! `lectern lab test` and `lectern lab record`: a course's labs proven against recorded cluster
//! states, and those states recorded from a live cluster.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use crate::config::{LabRecordArgs, LabTestArgs};
use crate::content::{self, CourseFiles, Diagnostic, Lab};
use crate::labs::Status;
use crate::labtest::{self, Report, plan};

/// Exit code when the tests could not run: an invalid course or test file, an unknown lab.
const NOT_RUN: u8 = 2;

/// Runs every lab's tests (or one lab's) and prints a table per lab; the exit code says whether
/// every verdict was the expected one.
pub async fn test(args: LabTestArgs) -> ExitCode {
    let started = Instant::now();
    let files = match CourseFiles::from_dir(&args.dir) {
        Ok(files) => files,
        Err(d) => return invalid(&args.dir, &[d]),
    };
    let course = match content::load(files.clone()) {
        Ok(course) => course,
        Err(e) => return invalid(&args.dir, &e.0),
    };
    let labs: Vec<(&content::Module, &Lab)> = course
        .modules
        .iter()
        .filter_map(|m| Some((m, m.lab.as_ref()?)))
        .filter(|(_, lab)| args.lab.as_deref().is_none_or(|id| lab.id.as_ref() == id))
        .collect();
    if labs.is_empty() {
        eprintln!(
            "error: {}",
            match &args.lab {
                Some(id) => format!("no lab `{id}` in {}", args.dir.display()),
                None => format!("the course in {} has no labs", args.dir.display()),
            }
        );
        return ExitCode::from(NOT_RUN);
    }
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for (module, lab) in &labs {
        match plan::load(&files, &module.dir, lab) {
            Ok(Some(plan)) => plans.push((*lab, plan)),
            Ok(None) => println!(
                "Lab {}: no tests: add {}{}",
                lab.id,
                plan::tests_dir(&module.dir),
                plan::PLAN_FILE
            ),
            Err(diagnostics) => errors.extend(diagnostics),
        }
    }
    if !errors.is_empty() {
        return invalid(&args.dir, &errors);
    }
    let mut wrong = 0;
    let mut low_score = false;
    for (lab, plan) in &plans {
        let report = labtest::run(lab, plan).await;
        print!("{}", table(lab, &report));
        wrong += report.wrong();
        if args.require_score.is_some_and(|min| report.score() < min) {
            low_score = true;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if wrong == 0 && !low_score {
        println!("All verdicts as expected ({seconds:.1} s).");
        ExitCode::SUCCESS
    } else {
        if wrong > 0 {
            println!(
                "{wrong} wrong verdict{} ({seconds:.1} s).",
                if wrong == 1 { "" } else { "s" }
            );
        }
        if low_score {
            println!(
                "The mutation score is below the required {}%.",
                args.require_score.unwrap_or_default()
            );
        }
        ExitCode::FAILURE
    }
}

fn invalid(dir: &Path, diagnostics: &[Diagnostic]) -> ExitCode {
    for d in diagnostics {
        println!("{}", super::validate::located(dir, d));
    }
    println!(
        "{} error{}: the tests were not run",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(NOT_RUN)
}

/// The report as text: states × steps (`✔` passed and must, `✘` failed and must, `·` either way
/// allowed, with `p`/`f` what it did, `WRONG` otherwise), sequences, mutants, the score.
fn table(lab: &Lab, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Lab {}: {} states, {} sequences, {} mutants, {} checks",
        lab.id,
        report.states.len(),
        report.sequences.len(),
        report.mutants.len(),
        report.checks.len()
    );
    let width = report
        .states
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = write!(out, "\n  {:width$}", "state");
    for step in &report.steps {
        let _ = write!(out, " {step:>5}");
    }
    out.push('\n');
    let mut wrong_cells = Vec::new();
    for row in &report.states {
        let _ = write!(out, "  {:width$}", row.name);
        for (expected, run) in &row.cells {
            let passed = run.status == Status::Passed;
            let cell = match expected {
                Some(true) if passed => "✔",
                Some(false) if !passed => "✘",
                None if passed => "·p",
                None => "·f",
                Some(_) => {
                    wrong_cells.push((row.name.clone(), *expected, run));
                    "WRONG"
                }
            };
            let _ = write!(out, " {cell:>5}");
        }
        out.push('\n');
    }
    for (state, expected, run) in wrong_cells {
        let _ = writeln!(
            out,
            "  WRONG: state {state}, step {}: must {}, but {}",
            run.step_number,
            if expected == Some(true) {
                "pass"
            } else {
                "fail"
            },
            labtest::summary(run)
        );
    }
    if !report.sequences.is_empty() {
        let _ = writeln!(out, "\n  Sequences:");
        for sequence in &report.sequences {
            let mark = if sequence.right { "✔" } else { "WRONG" };
            let _ = writeln!(
                out,
                "  {mark} step {}, {}: {}",
                sequence.step, sequence.name, sequence.detail
            );
        }
    }
    if !report.mutants.is_empty() {
        let caught = report.mutants.iter().filter(|m| m.right).count();
        let _ = writeln!(
            out,
            "\n  Mutants: {caught} of {} caught as expected",
            report.mutants.len()
        );
        for mutant in &report.mutants {
            let mark = if mutant.right { "✔" } else { "WRONG" };
            let _ = writeln!(
                out,
                "  {mark} step {}, {}: {}",
                mutant.step, mutant.name, mutant.detail
            );
        }
    }
    for gap in &report.uncovered {
        let _ = writeln!(out, "  WRONG: {gap}");
    }
    let missed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !report.caught.contains(c))
        .map(String::as_str)
        .collect();
    let _ = writeln!(
        out,
        "\n  Mutation score: {} of {} checks catch a mutant ({:.1}%){}\n",
        report.caught.len(),
        report.checks.len(),
        report.score(),
        if missed.is_empty() {
            String::new()
        } else {
            format!("; none caught by: {}", missed.join(", "))
        }
    );
    out
}

/// Records a state from the cluster, writes it beside the lab, and lists it in the lab's test
/// plan as one that must pass `--step`.
pub async fn record(args: LabRecordArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(NOT_RUN)
    };
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return fail(format!(
            "--as {:?}: a state's name is lowercase letters, digits and dashes (it names a file)",
            args.name
        ));
    }
    let files = match CourseFiles::from_dir(&args.content) {
        Ok(files) => files,
        Err(d) => return fail(d.to_string()),
    };
    let course = match content::load(files) {
        Ok(course) => course,
        Err(e) => {
            return fail(format!(
                "the course in {} is invalid:\n{e}",
                args.content.display()
            ));
        }
    };
    let Some((module, lab)) = course
        .modules
        .iter()
        .find_map(|m| Some((m, m.lab.as_ref().filter(|l| l.id.as_ref() == args.lab)?)))
    else {
        return fail(format!(
            "no lab `{}` in {}",
            args.lab,
            args.content.display()
        ));
    };
    if !lab
        .steps
        .iter()
        .any(|s| s.number == args.step && !s.checks.is_empty())
    {
        return fail(format!(
            "lab `{}` has no step {} with checks",
            lab.id, args.step
        ));
    }
    let tests = args.content.join(plan::tests_dir(&module.dir));
    let state_path = tests.join("states").join(format!("{}.json", args.name));
    if state_path.exists() && !args.force {
        return fail(format!(
            "{} exists: choose another name, or --force to replace it",
            state_path.display()
        ));
    }
    let options = args.cluster.connect_options();
    let state = match labtest::record::record(lab, &options).await {
        Ok(state) => state,
        Err(e) => return fail(e.to_string()),
    };
    let objects: usize = state.contexts.values().map(|c| c.objects.len()).sum();
    let written = std::fs::create_dir_all(state_path.parent().unwrap_or(&tests)).and_then(|()| {
        let text = serde_json::to_string_pretty(&state).unwrap_or_default();
        std::fs::write(&state_path, text + "\n")
    });
    if let Err(e) = written {
        return fail(format!("cannot write {}: {e}", state_path.display()));
    }
    let plan_path = tests.join(plan::PLAN_FILE);
    let existing = std::fs::read_to_string(&plan_path).unwrap_or_default();
    let listed = existing
        .lines()
        .any(|l| l.trim() == format!("name = \"{}\"", args.name));
    if !listed {
        let entry = format!(
            "{}[[state]]\nname = \"{}\"\nfile = \"states/{}.json\"\npass = [{}]\n",
            if existing.is_empty() || existing.ends_with("\n\n") {
                ""
            } else if existing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            },
            args.name,
            args.name,
            args.step
        );
        if let Err(e) = std::fs::write(&plan_path, existing + &entry) {
            return fail(format!("cannot write {}: {e}", plan_path.display()));
        }
    }
    println!(
        "Recorded {} ({} context{}, {objects} objects){}; run `lectern lab test {}` to see every step's verdict on it.",
        state_path.display(),
        state.contexts.len(),
        if state.contexts.len() == 1 { "" } else { "s" },
        if listed {
            String::new()
        } else {
            format!(
                " and listed it in {} as passing step {}",
                plan_path.display(),
                args.step
            )
        },
        args.content.display()
    );
    ExitCode::SUCCESS
}
