//! `lectern serve --watch`: reload the course ([`App::reload`](crate::App::reload)) whenever its files
//! change, keeping the last good version on errors.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::app::AppState;

/// Editors save in bursts (temp file, rename, chmod); wait this long for quiet before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches `dir` on a background thread for as long as the process runs; call it within the Tokio
/// runtime, which the reloads use for the database.
pub fn watch(app: AppState, dir: PathBuf) -> notify::Result<()> {
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
                runtime.block_on(app.reload());
            }
        })
        .map_err(notify::Error::io)?;
    Ok(())
}
