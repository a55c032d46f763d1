//! `lectern validate [DIR]`: every authoring error, one per line as `file:line:column: message`.

use std::path::Path;
use std::process::ExitCode;

use crate::content::{CourseFiles, Diagnostic};
use crate::render::{self, Highlighter};

/// Prints every error (or a summary of a valid course); the exit code says which.
pub fn execute(dir: &Path) -> ExitCode {
    let result = CourseFiles::from_dir(dir)
        .map_err(|d| vec![d])
        .and_then(|files| render::build(files, &Highlighter::default()).map_err(|e| e.0));
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

/// Prefixes the folder so that the path works from where the command was run.
fn located(dir: &Path, error: &Diagnostic) -> Diagnostic {
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
