//! The subcommands, one file each; `main` parses the command line and calls `execute`.

pub mod backup;
pub mod connect;
pub mod grades;
pub mod lab;
pub mod lab_test;
pub mod serve;
pub mod user;
pub mod validate;
pub mod watch;

use crate::content::{self, Course, CourseFiles};

/// The course in `dir`, or the embedded one; the error lists every authoring mistake.
fn load_course(dir: Option<&std::path::Path>) -> anyhow::Result<Course> {
    let files = match dir {
        Some(dir) => CourseFiles::from_dir(dir).map_err(|d| anyhow::anyhow!("{d}"))?,
        None => CourseFiles::embedded(),
    };
    content::load(files).map_err(|e| anyhow::anyhow!("{e}"))
}
