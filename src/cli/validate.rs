//! `lectern validate [DIR]`: every authoring error, one per line as `file:line:column: message`.

use std::path::Path;
use std::process::ExitCode;

use crate::content::{CourseFiles, Diagnostic};
use crate::render::{self, Highlighter};

/// Prints every error (or a summary of a valid course); the exit code says which.
pub fn execute(dir: &Path) -> ExitCode {
    let result = CourseFiles::from_dir(dir)
        .map_err(|d| vec![d])
        .and_then(|files| {
            let course = render::build(files.clone(), &Highlighter::default()).map_err(|e| e.0)?;
            lab_tests(&files)?;
            Ok(course)
        });
    match result {
        Ok(course) => {
            let steps: usize = course.modules.iter().map(|m| m.lab_steps).sum();
            let questions: usize = course.modules.iter().map(|m| m.questions).sum();
            println!(
                "{}: “{}” is valid: {} module{}, {steps} lab steps, {questions} questions",
                dir.display(),
                course.title,
                course.modules.len(),
                if course.modules.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                println!("{}", located(dir, error));
            }
            println!(
                "{} error{}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

/// Every lab's test plan and recorded states (`lectern lab test`), checked against its lab.
fn lab_tests(files: &CourseFiles) -> Result<(), Vec<Diagnostic>> {
    let course = crate::content::load(files.clone()).map_err(|e| e.0)?;
    let mut errors = Vec::new();
    for module in &course.modules {
        if let Some(lab) = &module.lab
            && let Err(found) = crate::labtest::plan::load(files, &module.dir, lab)
        {
            errors.extend(found);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Prefixes the folder so that the path works from where the command was run.
pub fn located(dir: &Path, error: &Diagnostic) -> Diagnostic {
    let file = if dir == Path::new(".") || error.file.starts_with(&*dir.to_string_lossy()) {
        error.file.clone()
    } else {
        dir.join(&error.file).display().to_string()
    };
    Diagnostic {
        file,
        ..error.clone()
    }
}
