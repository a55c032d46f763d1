//! Live checks: the steps a learner started are watched on the cluster their checks use, checked
//! again whenever what the checks read changes, and each new verdict goes to every page that
//! learner has open (and is recorded, like "Check my work"). Following a step stops when it
//! passes, or when none of the learner's pages has been open for the idle bound.
//!
//! `watches` shares one watch per (cluster, kind, namespace, selectors) among every follower.

mod watches;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use watches::{POLL_EVERY, WatchMode, Watches};

use crate::labs::{self, RecordedRun, RunError, Status};
use crate::progress::ProgressMemory;
use crate::site::LiveSite;

/// How long a started step is followed with none of the learner's pages open.
pub const IDLE_BOUND: Duration = Duration::from_secs(2 * 60 * 60);

/// Checks that read no objects (health, version) are asked again this often while followed: once
/// per cluster for every follower, re-running a step only when the answer changed. A check that
/// cannot be watched (its context not reachable) has its step re-run this often instead.
pub const ASK_AGAIN_EVERY: Duration = Duration::from_secs(10);

/// A burst of changes (a rollout, a node going away) is checked once, this long after its first.
const SETTLE: Duration = Duration::from_millis(25);

/// How often a follower re-reads which cluster the learner uses (a bridge connected or closed,
/// a cluster assigned).
const RECONNECT_EVERY: Duration = Duration::from_secs(30);

/// What a learner's open pages are told about a lab, as server-sent events (the README documents
/// them): the `type` is the event's name, the rest its JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Update {
    /// A step's new verdict: the document "Check my work" answers.
    Verdict {
        /// The run, as recorded.
        run: Box<RecordedRun>,
    },
    /// How a step is followed.
    Following {
        /// The lab.
        lab: String,
        /// The step.
        step: String,
        /// When the learner started it.
        started_at: String,
        /// `connecting`, `watching`, `polling` or `retrying`.
        mode: &'static str,
        /// The sentence to show.
        message: String,
    },
    /// The step cannot be checked now (no cluster, an unreachable one); following goes on.
    Problem {
        /// The lab.
        lab: String,
        /// The step.
        step: String,
        /// What went wrong, for the learner.
        error: String,
        /// The technical detail.
        detail: String,
    },
    /// The step is no longer followed.
    Stopped {
        /// The lab.
        lab: String,
        /// The step.
        step: String,
        /// `passed`, `idle` (no page open for the idle bound), or `removed` (the course changed).
        reason: &'static str,
    },
}

impl Update {
    /// The event's name on the stream.
    pub fn name(&self) -> &'static str {
        match self {
            Update::Verdict { .. } => "verdict",
            Update::Following { .. } => "following",
            Update::Problem { .. } => "problem",
            Update::Stopped { .. } => "stopped",
        }
    }

    /// The lab and step it is about.
    fn about(&self) -> (&str, &str) {
        match self {
            Update::Verdict { run } => (&run.run.lab, &run.run.step),
            Update::Following { lab, step, .. }
            | Update::Problem { lab, step, .. }
            | Update::Stopped { lab, step, .. } => (lab, step),
        }
    }
}

/// The live checks of every learner on this server.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("watches_running", &self.watches_running())
            .finish_non_exhaustive()
    }
}

struct Inner {
    reach: labs::Reach,
    pool: sqlx::AnyPool,
    site: Arc<LiveSite>,
    watches: Watches,
    idle_bound: Duration,
    learners: Mutex<HashMap<i64, Arc<Learner>>>,
    /// Told of each pass a follower records, so pages show it at once.
    progress: Arc<ProgressMemory>,
    /// How many learners may be kept before idle ones are forgotten again (at least
    /// [`PRUNE_LEARNERS_ABOVE`]).
    prune_above: std::sync::atomic::AtomicUsize,
}

/// How many learners are kept before those with no open page and no followed step are first
/// forgotten (checked when another one arrives), so a long-running portal does not keep an entry
/// for everyone who ever opened a lab; after each pass the next waits until twice as many are
/// kept, so many busy learners are not scanned on every arrival.
const PRUNE_LEARNERS_ABOVE: usize = 1024;

/// Forgets the learners nobody holds (no page subscribed, no follower publishing) and who follow
/// no step: they come back empty the next time a page or a check asks.
fn forget_idle(learners: &mut HashMap<i64, Arc<Learner>>) {
    learners.retain(|_, learner| {
        Arc::strong_count(learner) > 1
            || !learner
                .followed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    });
}

/// One learner's followed steps and open pages.
struct Learner {
    updates: broadcast::Sender<Update>,
    /// Per (lab, step): the follower task and the last updates of each event name, for a page
    /// that opens later.
    followed: Mutex<HashMap<(String, String), Followed>>,
}

struct Followed {
    task: tokio::task::AbortHandle,
    started_at: String,
    last: Vec<Update>,
}

/// A page's subscription to one lab's updates.
pub struct Subscription {
    lab: String,
    /// What the page should show at once: each followed step's latest state.
    pub initial: Vec<Update>,
    updates: broadcast::Receiver<Update>,
    _learner: Arc<Learner>,
}

impl Subscription {
    /// The next update about this lab; `None` when the server stops.
    pub async fn next(&mut self) -> Option<Update> {
        loop {
            match self.updates.recv().await {
                Ok(update) if update.about().0 == self.lab => return Some(update),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Live {
    /// Live checks reaching clusters as `reach` does, recording in `pool`, reading the course
    /// from `site`; a step is followed until it passes or no page was open for `idle_bound`.
    pub fn new(
        reach: labs::Reach,
        pool: sqlx::AnyPool,
        site: Arc<LiveSite>,
        progress: Arc<ProgressMemory>,
        idle_bound: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                reach,
                pool,
                site,
                watches: Watches::default(),
                idle_bound,
                learners: Mutex::default(),
                progress,
                prune_above: std::sync::atomic::AtomicUsize::new(PRUNE_LEARNERS_ABOVE),
            }),
        }
    }

    /// How many shared watches are running.
    pub fn watches_running(&self) -> usize {
        self.inner.watches.running()
    }

    /// Starts (or restarts) a step for a learner and follows it; returns when it started.
    pub async fn start(&self, learner_id: i64, lab: &str, step: &str) -> Result<String, RunError> {
        let site = self.inner.site.current();
        let started_at =
            labs::start_step(&self.inner.pool, site.course(), learner_id, lab, step).await?;
        self.follow(learner_id, lab, step, &started_at, None);
        Ok(started_at)
    }

    /// Subscribes a page to a lab's updates, following again every step of it the learner
    /// started and has not passed (after a restart, say).
    pub async fn subscribe(&self, learner_id: i64, lab: &str) -> Result<Subscription, RunError> {
        let site = self.inner.site.current();
        let in_progress =
            labs::steps_in_progress(&self.inner.pool, site.course(), learner_id, lab).await?;
        let learner = self.learner(learner_id);
        let updates = learner.updates.subscribe();
        for (step, started_at) in &in_progress {
            self.follow(learner_id, lab, step, started_at, None);
        }
        let initial = {
            let followed = learner.followed.lock().unwrap_or_else(|e| e.into_inner());
            followed
                .iter()
                .filter(|((l, _), _)| l == lab)
                .flat_map(|(_, f)| f.last.clone())
                .collect()
        };
        Ok(Subscription {
            lab: lab.to_owned(),
            initial,
            updates,
            _learner: learner,
        })
    }

    /// Tells the learner's pages about a run of "Check my work"; a pass ends following the step,
    /// and a step not passed is followed from now on if a page of the lab is open (checking it
    /// started it).
    pub async fn checked(&self, learner_id: i64, run: &RecordedRun) -> Result<(), RunError> {
        let learner = self.learner(learner_id);
        let key = (run.run.lab.clone(), run.run.step.clone());
        let verdict = Update::Verdict {
            run: Box::new(run.clone()),
        };
        let passed = run.run.status == Status::Passed;
        {
            let mut followed = learner.followed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = followed.get_mut(&key) {
                remember(&mut f.last, verdict.clone());
                if passed {
                    f.task.abort();
                    followed.remove(&key);
                }
            }
        }
        let _ = learner.updates.send(verdict);
        if passed {
            let _ = learner.updates.send(Update::Stopped {
                lab: key.0,
                step: key.1,
                reason: "passed",
            });
        } else if run.passed_at.is_none() && learner.updates.receiver_count() > 0 {
            let site = self.inner.site.current();
            let in_progress =
                labs::steps_in_progress(&self.inner.pool, site.course(), learner_id, &key.0)
                    .await?;
            if let Some((step, started_at)) = in_progress.iter().find(|(s, _)| *s == key.1) {
                self.follow(learner_id, &key.0, step, started_at, Some(run.run.clone()));
            }
        }
        Ok(())
    }

    fn learner(&self, learner_id: i64) -> Arc<Learner> {
        let mut learners = self
            .inner
            .learners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let prune_above = &self.inner.prune_above;
        if !learners.contains_key(&learner_id)
            && learners.len() >= prune_above.load(std::sync::atomic::Ordering::Relaxed)
        {
            forget_idle(&mut learners);
            prune_above.store(
                (learners.len() * 2).max(PRUNE_LEARNERS_ABOVE),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        learners
            .entry(learner_id)
            .or_insert_with(|| {
                Arc::new(Learner {
                    updates: broadcast::channel(64).0,
                    followed: Mutex::default(),
                })
            })
            .clone()
    }

    /// Follows a step, unless it is followed already; a new start (not from a page or a check:
    /// `seen` is `None` and the start is new) replaces the follower. `seen` is the verdict the
    /// learner has already seen, so it is not recorded twice.
    fn follow(
        &self,
        learner_id: i64,
        lab: &str,
        step: &str,
        started_at: &str,
        seen: Option<labs::StepRun>,
    ) {
        let learner = self.learner(learner_id);
        let key = (lab.to_owned(), step.to_owned());
        let mut followed = learner.followed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = followed.get(&key) {
            let restarted = existing.started_at != started_at;
            if !restarted && !existing.task.is_finished() {
                return;
            }
            existing.task.abort();
        }
        let follower = Follower {
            live: self.clone(),
            learner_id,
            learner: learner.clone(),
            lab: lab.to_owned(),
            step: step.to_owned(),
            started_at: started_at.to_owned(),
        };
        let task = tokio::spawn(follower.run(seen)).abort_handle();
        followed.insert(
            key,
            Followed {
                task,
                started_at: started_at.to_owned(),
                last: Vec::new(),
            },
        );
    }
}

/// Keeps the last update of each name.
fn remember(last: &mut Vec<Update>, update: Update) {
    last.retain(|u| u.name() != update.name());
    last.push(update);
}

/// One followed step of one learner.
struct Follower {
    live: Live,
    learner_id: i64,
    learner: Arc<Learner>,
    lab: String,
    step: String,
    started_at: String,
}

/// Why one round of following ended.
enum Round {
    /// The step passed, the course lost it, or no page was open for the idle bound: stop.
    Stop(&'static str),
    /// Which cluster to ask may have changed, or it failed: connect again.
    Reconnect,
}

impl Follower {
    async fn run(self, seen: Option<labs::StepRun>) {
        let mut wait = Duration::from_secs(2);
        let mut idle_since: Option<tokio::time::Instant> = None;
        let mut last = seen;
        loop {
            let round = self.round(&mut idle_since, &mut last).await;
            match round {
                Ok(Round::Stop(reason)) => {
                    self.stop(reason);
                    return;
                }
                Ok(Round::Reconnect) => wait = Duration::from_secs(2),
                Err(e) => {
                    let (error, detail) = match &e {
                        RunError::Cluster(c) => (c.advice(), c.to_string()),
                        other => (other.to_string(), String::new()),
                    };
                    if matches!(e, RunError::NotFound(_)) {
                        self.stop("removed");
                        return;
                    }
                    self.publish(Update::Problem {
                        lab: self.lab.clone(),
                        step: self.step.clone(),
                        error,
                        detail,
                    });
                    if self.idle(&mut idle_since) {
                        self.stop("idle");
                        return;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Connects to the learner's cluster, watches what the step reads, and checks the step on
    /// each change until it passes or the round ends.
    async fn round(
        &self,
        idle_since: &mut Option<tokio::time::Instant>,
        last: &mut Option<labs::StepRun>,
    ) -> Result<Round, RunError> {
        let inner = &self.live.inner;
        let learner = labs::learner_cluster(&inner.reach, &inner.pool, self.learner_id).await?;
        let targets = learner.targets(&inner.reach);
        let site = inner.site.current();
        let course = site.course();
        let (lab, step) = labs::find_step(course, &self.lab, &self.step)?;
        let mut shared = Vec::new();
        let mut ask_again = false;
        for check in &step.checks {
            let watched = labs::watched(check);
            let probed = labs::probed(check);
            let cluster = match targets.for_check(check).await {
                Ok(Some(other)) => other,
                Ok(None) => learner.cluster.clone(),
                // Not reachable as a watch (a context not relayed, not created yet): the
                // check says why each time the step is checked.
                Err(_) => {
                    ask_again = true;
                    continue;
                }
            };
            for w in watched {
                shared.push(inner.watches.follow(&cluster, &w));
            }
            if let Some(path) = probed {
                shared.push(inner.watches.ask(&cluster, &path));
            }
        }
        let mut signals: Vec<watch::Receiver<watches::Signal>> =
            shared.iter().map(|s| s.subscribe()).collect();
        let mut every = tokio::time::interval(if ask_again {
            ASK_AGAIN_EVERY
        } else {
            RECONNECT_EVERY
        });
        every.tick().await;
        // The first verdict waits for the watches' first complete picture (briefly), so that
        // their first signals do not ask the same again.
        let _ = tokio::time::timeout(
            learner.cluster.timeout * 2,
            futures::future::join_all(signals.iter_mut().map(|s| async move {
                let ready = s.wait_for(|s| s.mode != WatchMode::Starting).await;
                ready.is_ok()
            })),
        )
        .await;
        for s in &mut signals {
            s.borrow_and_update();
        }
        let mut moment = labs::moment(&inner.pool, self.learner_id, lab, step).await?;
        let mut reconnect_at = tokio::time::Instant::now() + RECONNECT_EVERY;
        let mut mode = None;
        loop {
            let now_mode = Self::mode(&signals);
            if mode.as_ref() != Some(&now_mode) {
                self.publish(following(&now_mode, self));
                mode = Some(now_mode);
            }
            let run = labs::run_step(&targets, lab, step, &moment).await;
            if last.as_ref().is_none_or(|l| changed(l, &run)) {
                let passed = run.status == Status::Passed;
                *last = Some(run.clone());
                let recorded = labs::record_with_sightings(
                    &inner.pool,
                    self.learner_id,
                    step,
                    run,
                    learner.via,
                    &mut moment,
                )
                .await?;
                if passed {
                    inner.progress.learner_changed(self.learner_id);
                }
                self.publish(Update::Verdict {
                    run: Box::new(recorded),
                });
                if passed {
                    return Ok(Round::Stop("passed"));
                }
            }
            // Wait for a change, the interval, or the time to look again at the learner's cluster.
            loop {
                let changes = futures::future::select_all(
                    signals
                        .iter_mut()
                        .map(|s| s.changed().boxed())
                        .chain(std::iter::once(futures::future::pending().boxed())),
                );
                tokio::select! {
                    (result, _, _) = changes => {
                        if result.is_err() {
                            return Ok(Round::Reconnect);
                        }
                        tokio::time::sleep(SETTLE).await;
                        break;
                    }
                    _ = every.tick() => {
                        if self.idle(idle_since) {
                            return Ok(Round::Stop("idle"));
                        }
                        if tokio::time::Instant::now() >= reconnect_at {
                            let now = labs::learner_cluster(&inner.reach, &inner.pool, self.learner_id).await?;
                            if now.cluster.key != learner.cluster.key {
                                return Ok(Round::Reconnect);
                            }
                            reconnect_at = tokio::time::Instant::now() + RECONNECT_EVERY;
                        }
                        if ask_again {
                            break;
                        }
                    }
                }
            }
            for s in &mut signals {
                s.borrow_and_update();
            }
        }
    }

    /// How the step's watches are doing, all told: the worst of them (retrying, then polling,
    /// then starting); watching when there are none.
    fn mode(signals: &[watch::Receiver<watches::Signal>]) -> WatchMode {
        let modes: Vec<WatchMode> = signals.iter().map(|s| s.borrow().mode.clone()).collect();
        let worst = |wanted: fn(&WatchMode) -> bool| modes.iter().find(|m| wanted(m)).cloned();
        worst(|m| matches!(m, WatchMode::Retrying(_)))
            .or_else(|| worst(|m| matches!(m, WatchMode::Polling(_))))
            .or_else(|| worst(|m| *m == WatchMode::Starting))
            .unwrap_or(WatchMode::Watching)
    }

    /// Whether no page of the learner's has been open for the idle bound (and notes since when).
    fn idle(&self, idle_since: &mut Option<tokio::time::Instant>) -> bool {
        if self.learner.updates.receiver_count() > 0 {
            *idle_since = None;
            return false;
        }
        let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
        since.elapsed() >= self.live.inner.idle_bound
    }

    fn publish(&self, update: Update) {
        {
            let mut followed = self
                .learner
                .followed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(f) = followed.get_mut(&(self.lab.clone(), self.step.clone())) {
                remember(&mut f.last, update.clone());
            }
        }
        let _ = self.learner.updates.send(update);
    }

    fn stop(&self, reason: &'static str) {
        self.learner
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(self.lab.clone(), self.step.clone()));
        let _ = self.learner.updates.send(Update::Stopped {
            lab: self.lab.clone(),
            step: self.step.clone(),
            reason,
        });
    }
}

/// The page's `following` event for how a step's watches are doing.
fn following(mode: &WatchMode, follower: &Follower) -> Update {
    let (mode, message) = match mode {
        WatchMode::Starting => ("connecting", "Connecting to your cluster…".to_owned()),
        WatchMode::Watching => (
            "watching",
            "Watching your cluster: this step is checked as it changes.".to_owned(),
        ),
        WatchMode::Polling(reason) => (
            "polling",
            format!("Checking every {} s: {reason}.", POLL_EVERY.as_secs()),
        ),
        WatchMode::Retrying(reason) => (
            "retrying",
            format!("Lost the watch on your cluster ({reason}); trying again."),
        ),
    };
    Update::Following {
        lab: follower.lab.clone(),
        step: follower.step.clone(),
        started_at: follower.started_at.clone(),
        mode,
        message,
    }
}

/// Whether a new run says something the last did not: a verdict or a message changed (not just
/// how long it took).
fn changed(last: &labs::StepRun, run: &labs::StepRun) -> bool {
    last.status != run.status
        || last.results.len() != run.results.len()
        || last
            .results
            .iter()
            .zip(&run.results)
            .any(|(a, b)| a.status != b.status || a.message != b.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learner() -> Arc<Learner> {
        Arc::new(Learner {
            updates: broadcast::channel(64).0,
            followed: Mutex::default(),
        })
    }

    #[tokio::test]
    async fn only_learners_with_no_page_and_no_followed_step_are_forgotten() {
        let mut learners = HashMap::new();
        learners.insert(1, learner());
        let watched = learner();
        let page = watched.clone();
        learners.insert(2, watched);
        let following = learner();
        let task = tokio::spawn(std::future::pending::<()>());
        following.followed.lock().unwrap().insert(
            ("lab".to_owned(), "step".to_owned()),
            Followed {
                task: task.abort_handle(),
                started_at: String::new(),
                last: Vec::new(),
            },
        );
        learners.insert(3, following);
        forget_idle(&mut learners);
        let mut kept: Vec<i64> = learners.keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, [2, 3], "1 had nothing open or followed");
        drop(page);
        learners.get(&3).unwrap().followed.lock().unwrap().clear();
        forget_idle(&mut learners);
        assert!(learners.is_empty());
        task.abort();
    }
}
