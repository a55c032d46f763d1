//! `--watch`: re-render the course when its files change, keeping the last good version on errors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Site;
use crate::app::App;
use crate::assess;
use crate::content::CourseFiles;
use crate::render;

/// Editors save in bursts (temp file, rename, chmod); wait this long for quiet before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches `dir` on a background thread for as long as the process runs; call it within the Tokio
/// runtime, which the reloads use for the database.
pub fn watch(app: Arc<App>, dir: PathBuf) -> notify::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("content-watch".into())
        .spawn(move || {
            let _watcher = watcher;
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                reload(&app, &dir, &runtime);
            }
        })
        .map_err(notify::Error::io)?;
    Ok(())
}

fn reload(app: &App, dir: &std::path::Path, runtime: &tokio::runtime::Handle) {
    let result = CourseFiles::from_dir(dir)
        .map_err(|d| vec![d])
        .and_then(|files| render::build(files, &app.highlighter).map_err(|e| e.0));
    match result {
        Ok(course) => {
            // Rubric corrections are versioned (and grades recomputed) before the new pages show.
            if let Err(e) = runtime.block_on(assess::rubrics::sync(&app.db, &course.course)) {
                tracing::warn!(error = %e, "could not record the reloaded rubrics; grading keeps the previous ones");
            }
            tracing::info!(dir = %dir.display(), "content reloaded");
            app.site
                .replace(Site::new(Arc::new(course), app.assets.urls.clone(), &[]));
        }
        Err(errors) => {
            for e in &errors {
                tracing::warn!("{e}");
            }
            tracing::warn!(
                errors = errors.len(),
                "content has errors; still serving the last good version"
            );
            let current = app.site.current();
            app.site.replace(current.with_errors(&errors));
        }
    }
}
