//! The course loader on hostile course folders: every file kind (course.toml, module.toml,
//! module.md, questions.toml, lab steps) gets fuzzed contents. Loading must never panic, and every
//! error must name a file of the course and a line.
//!
//! The input is the files' contents in the order of [`FILES`], separated by 0xFF (a byte UTF-8 text
//! never holds); `fuzz/run` seeds the corpus with the default course laid out that way.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use lectern::content::CourseFiles;
use lectern::render::{self, Highlighter};
use libfuzzer_sys::fuzz_target;

/// The files the input's parts become, in order.
const FILES: &[&str] = &[
    "course.toml",
    "modules/01-cluster-architecture/module.toml",
    "modules/01-cluster-architecture/module.md",
    "modules/01-cluster-architecture/questions.toml",
    "modules/01-cluster-architecture/lab/01-prepare.md",
    "modules/01-cluster-architecture/lab/02-create-ha-cluster.md",
    "modules/01-cluster-architecture/lab/03-inspect-control-plane.md",
    "modules/01-cluster-architecture/lab/04-monitoring-rbac.md",
    "modules/01-cluster-architecture/lab/05-survive-a-failure.md",
];

fuzz_target!(|data: &[u8]| {
    static HIGHLIGHTER: OnceLock<Highlighter> = OnceLock::new();
    let highlighter = HIGHLIGHTER.get_or_init(Highlighter::default);
    let files: BTreeMap<String, Vec<u8>> = FILES
        .iter()
        .zip(data.split(|b| *b == 0xFF))
        .map(|(path, contents)| ((*path).to_owned(), contents.to_vec()))
        .collect();
    if let Err(errors) = render::build(CourseFiles::from_map(files), highlighter) {
        assert!(!errors.0.is_empty(), "an invalid course says why");
        for diagnostic in errors.0 {
            assert!(
                FILES.contains(&diagnostic.file.as_str())
                    || FILES.iter().any(|f| f.starts_with(&diagnostic.file)),
                "a diagnostic names a file of the course: {diagnostic:?}"
            );
            assert!(!diagnostic.message.is_empty(), "{diagnostic:?}");
        }
    }
});
