//! Watches shared by every learner and step that reads the same objects on the same cluster: one
//! kube-rs `watcher` per (cluster, kind, namespace, selectors). It resumes from its
//! resourceVersion, lists again after 410 Gone, follows bookmarks and reconnects after a dropped
//! connection (kube-rs's `watcher` does these); a cluster that refuses to watch is polled instead,
//! and each follower is told which.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;

use crate::labs::{Cluster, Watched};

/// How often a cluster that refuses to watch is asked again: the peers' one second would be a
/// request a second per step on a shared cluster; two keeps a verdict within a few seconds.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// The longest wait between attempts after a watch failed.
const MOST_BACKOFF: Duration = Duration::from_secs(30);

/// How a shared watch is doing, as its followers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMode {
    /// Listing, before the first complete picture.
    Starting,
    /// Following changes as the API server sends them.
    Watching,
    /// The cluster refuses to watch (the reason says why); asked again every [`POLL_EVERY`].
    Polling(String),
    /// The watch failed (the reason says how); trying again with a growing wait.
    Retrying(String),
}

/// What a follower sees: a counter that moves on every change, and the mode.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Moves on every change of the watched objects (and every poll).
    pub changes: u64,
    /// How the watch is doing.
    pub mode: WatchMode,
}

/// What a shared watch follows on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    /// Objects, through the API's watch.
    Objects(Watched),
    /// A non-resource path's answer (`/version`, `/readyz?verbose`), asked again every
    /// [`super::ASK_AGAIN_EVERY`].
    Answer(String),
}

/// Which watch: the cluster's connection key and what it follows.
type WatchKey = (String, Source);

/// One running watch; it stops when the last follower lets go of it.
pub struct SharedWatch {
    signals: watch::Receiver<Signal>,
    task: tokio::task::AbortHandle,
}

impl SharedWatch {
    /// A receiver of this watch's signals, for one follower.
    pub fn subscribe(&self) -> watch::Receiver<Signal> {
        self.signals.clone()
    }
}

impl Drop for SharedWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running watches, each shared by everyone who follows it.
#[derive(Default)]
pub struct Watches {
    running: Mutex<HashMap<WatchKey, Weak<SharedWatch>>>,
}

impl Watches {
    /// The watch of `watched` on `cluster`: the running one, or a new one.
    pub fn follow(&self, cluster: &Arc<Cluster>, watched: &Watched) -> Arc<SharedWatch> {
        self.shared(cluster, Source::Objects(watched.clone()))
    }

    /// The shared asking of `path` on `cluster` (the running one, or a new one): it signals only
    /// when the answer changes, so a thousand followers of a version check cost one request per
    /// interval, and no re-run while nothing changes.
    pub fn ask(&self, cluster: &Arc<Cluster>, path: &str) -> Arc<SharedWatch> {
        self.shared(cluster, Source::Answer(path.to_owned()))
    }

    fn shared(&self, cluster: &Arc<Cluster>, source: Source) -> Arc<SharedWatch> {
        let key = (cluster.key.clone(), source.clone());
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, watch| watch.strong_count() > 0);
        if let Some(shared) = running.get(&key).and_then(Weak::upgrade) {
            return shared;
        }
        let (signals, receiver) = watch::channel(Signal {
            changes: 0,
            mode: WatchMode::Starting,
        });
        let task = match source {
            Source::Objects(watched) => tokio::spawn(run(cluster.clone(), watched, signals)),
            Source::Answer(path) => tokio::spawn(ask_again(cluster.clone(), path, signals)),
        }
        .abort_handle();
        let shared = Arc::new(SharedWatch {
            signals: receiver,
            task,
        });
        running.insert(key, Arc::downgrade(&shared));
        shared
    }

    /// How many watches are running: what the metrics and the tests read.
    pub fn running(&self) -> usize {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// Runs one watch until it is aborted.
async fn run(cluster: Arc<Cluster>, watched: Watched, signals: watch::Sender<Signal>) {
    let mut wait = Duration::from_secs(1);
    let api = loop {
        match cluster
            .watch_api(
                &watched.api_version,
                &watched.kind,
                watched.namespace.as_deref(),
            )
            .await
        {
            Ok(api) => break api,
            Err(e) => {
                set_mode(&signals, WatchMode::Retrying(e.to_string()));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MOST_BACKOFF);
            }
        }
    };
    let config = watcher::Config {
        label_selector: watched.label_selector.clone(),
        field_selector: watched.field_selector.clone(),
        ..Default::default()
    };
    let refusal = if watched.metadata_only() {
        follow_events(watcher::metadata_watcher(api, config), &signals).await
    } else {
        follow_events(watcher::watcher(api, config), &signals).await
    };
    let reason = match refusal {
        Refusal::OldBridge(message) => message,
        Refusal::Cluster(message) => format!(
            "the cluster does not let Lectern watch {}s ({message})",
            watched.kind
        ),
    };
    set_mode(&signals, WatchMode::Polling(reason));
    let mut tick = tokio::time::interval(POLL_EVERY);
    loop {
        tick.tick().await;
        signals.send_modify(|s| s.changes += 1);
    }
}

/// Asks `path` every [`super::ASK_AGAIN_EVERY`] until aborted, signalling when the answer (its
/// status and body, or the failure) differs from the last one.
async fn ask_again(cluster: Arc<Cluster>, path: String, signals: watch::Sender<Signal>) {
    let mut last: Option<String> = None;
    let mut tick = tokio::time::interval(super::ASK_AGAIN_EVERY);
    loop {
        tick.tick().await;
        let answer = match cluster.get_text(&path).await {
            Ok((code, body)) => format!("{code}\n{body}"),
            Err(e) => e.to_string(),
        };
        if last.as_ref() != Some(&answer) {
            let first = last.is_none();
            last = Some(answer);
            signals.send_modify(|s| {
                if !first {
                    s.changes += 1;
                }
                s.mode = WatchMode::Watching;
            });
        }
    }
}

/// Why a watch is polled instead.
enum Refusal {
    /// The learner's `lectern connect` speaks protocol version 1: the message asks to upgrade.
    OldBridge(String),
    /// The cluster refuses (the `watch` verb forbidden, a proxy that does not stream), or the
    /// watch ended for good.
    Cluster(String),
}

/// Follows a watcher's events, signalling each change; returns only when the watch is refused.
async fn follow_events<K>(
    events: impl futures::Stream<Item = Result<Event<K>, watcher::Error>>,
    signals: &watch::Sender<Signal>,
) -> Refusal {
    let mut events = std::pin::pin!(events);
    let mut wait = Duration::from_secs(1);
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init | Event::InitApply(_)) => {}
            // A complete picture (the first, or after a 410 or a reconnection that listed again):
            // whatever happened in between is in it.
            Ok(Event::InitDone | Event::Apply(_) | Event::Delete(_)) => {
                wait = Duration::from_secs(1);
                signals.send_modify(|s| {
                    s.changes += 1;
                    s.mode = WatchMode::Watching;
                });
            }
            Err(e) => {
                if let Some(reason) = refusal(&e) {
                    return reason;
                }
                if gone(&e) {
                    // The watch's resourceVersion was compacted away: the watcher lists again.
                    continue;
                }
                tracing::debug!(error = %e, "watch failed; trying again");
                set_mode(signals, WatchMode::Retrying(e.to_string()));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MOST_BACKOFF);
            }
        }
    }
    Refusal::Cluster("the watch ended".to_owned())
}

/// The refusal to watch (403 Forbidden for the `watch` verb, 405 from a proxy that does not
/// stream, a version-1 bridge), with its message; other errors are worth trying again.
fn refusal(error: &watcher::Error) -> Option<Refusal> {
    let response = match error {
        watcher::Error::WatchStartFailed(kube::Error::Api(response))
        | watcher::Error::WatchFailed(kube::Error::Api(response)) => response,
        watcher::Error::WatchError(response) => response,
        _ => return None,
    };
    if response.reason == crate::bridge::link::NO_WATCHES_REASON {
        return Some(Refusal::OldBridge(response.message.clone()));
    }
    matches!(response.code, 403 | 405).then(|| Refusal::Cluster(response.message.clone()))
}

/// Whether the watch's resourceVersion is too old (410 Gone).
fn gone(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(response) if response.code == 410)
}

fn set_mode(signals: &watch::Sender<Signal>, mode: WatchMode) {
    signals.send_if_modified(|s| {
        let changed = s.mode != mode;
        s.mode = mode.clone();
        changed
    });
}
