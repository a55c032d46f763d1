//! The JSON that reaches Lectern from outside: answers as learners' browsers (or anyone) send them,
//! saved through the real domain function into a real SQLite file; and check-run documents as they
//! are read back from the database (a backup restored from another release, a hand-edited row).
//! Neither may panic: bad input is an error with a message.
//!
//! The first byte picks what the rest is: even, an answer to one of module 01's questions (chosen by
//! the second byte); odd, a check run's results.

#![no_main]

use std::sync::OnceLock;

use lectern::assess::{self, AnswerInput};
use lectern::content::CourseFiles;
use lectern::labs::{CheckResult, Status};
use lectern::render::{self, Highlighter, RenderedCourse};
use libfuzzer_sys::fuzz_target;

struct World {
    runtime: tokio::runtime::Runtime,
    db: sqlx::SqlitePool,
    course: RenderedCourse,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let path = std::env::temp_dir().join(format!("lectern-fuzz-{}.db", std::process::id()));
        let db = runtime
            .block_on(lectern::db::open(&path))
            .expect("a database");
        let course = render::build(CourseFiles::embedded(), &Highlighter::default())
            .expect("the default course loads");
        World {
            runtime,
            db,
            course,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    if kind % 2 == 1 {
        if let Ok(results) = serde_json::from_slice::<Vec<CheckResult>>(rest) {
            let _ = Status::of(&results);
            for result in &results {
                let _ = result.observed_pretty();
            }
        }
        return;
    }
    let Some((&which, body)) = rest.split_first() else {
        return;
    };
    let Ok(input) = serde_json::from_slice::<AnswerInput>(body) else {
        return;
    };
    let world = world();
    let module = &world.course.course.modules[0];
    let question = &module.questions[usize::from(which) % module.questions.len()];
    let saved = world.runtime.block_on(assess::save(
        &world.db,
        &world.course.course,
        lectern::db::LOCAL_LEARNER_ID,
        module.id.as_ref(),
        question.id.as_ref(),
        input,
    ));
    if let Err(error) = saved {
        assert!(!error.to_string().is_empty());
    }
});
