//! A learner's progress kept in memory between page views, so that a page view asks the database
//! nothing: the course home's "Your progress" is drawn from what was read last, until something
//! that may change it happens.
//!
//! What changes progress is a write: a module visit, a recorded pass, an answer saved or graded.
//! Those made by this server forget what was kept at once ([`ProgressMemory::learner_changed`] for
//! one learner's own actions, [`ProgressMemory::everyone_changed`] for staff's, which may touch any
//! learner). Writes this server does not see (another replica's; `lectern lab check` run beside a
//! personal server) show within [`FRESH_FOR`]: nothing is kept longer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::AnyPool;

use super::CourseProgress;
use crate::content::Course;

/// How long what was read is used at most: the delay with which writes made elsewhere show.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Learners remembered before the stale ones are first dropped; after each drop, the next waits
/// until twice as many are kept, so a server with many active learners does not scan them all on
/// every read.
const PRUNE_ABOVE: usize = 4096;

/// What a learner's progress is computed from (the course may change in between, so the
/// progress itself is computed per view, which is arithmetic).
#[derive(Debug)]
struct Facts {
    visits: HashMap<String, String>,
    passed: HashMap<(String, String), String>,
    answered: HashMap<(String, String), crate::assess::VisibleScore>,
}

/// One learner's entry: the last change made to their progress by this server (a tick of
/// [`ProgressMemory::clock`]), and what was read, from when.
#[derive(Debug, Default)]
struct Learner {
    changed: u64,
    kept: Option<Kept>,
}

#[derive(Debug)]
struct Kept {
    /// The clock when the read began: a change after it may be missing from `facts`.
    since: u64,
    read_at: Instant,
    facts: Arc<Facts>,
}

/// Learners' progress as pages show it, and their module visits (written at most once a minute).
#[derive(Debug, Default)]
pub struct ProgressMemory {
    /// Ticks once for every change this server makes to anyone's progress.
    clock: AtomicU64,
    /// The tick of the last change that may have touched every learner.
    everyone: AtomicU64,
    learners: Mutex<HashMap<i64, Learner>>,
    /// How many learners may be kept before the stale ones are dropped again (at least
    /// [`PRUNE_ABOVE`]).
    prune_above: AtomicUsize,
    visits: VisitRecorder,
}

impl ProgressMemory {
    /// `learner_id`'s progress in `course`: from memory while fresh, otherwise read (and kept).
    pub async fn for_learner(
        &self,
        pool: &AnyPool,
        course: &Course,
        learner_id: i64,
    ) -> Result<CourseProgress, sqlx::Error> {
        let facts = match self.kept(learner_id) {
            Some(facts) => facts,
            None => {
                let since = self.clock.load(Ordering::SeqCst);
                let facts = Arc::new(Facts {
                    answered: crate::assess::submitted(pool, learner_id).await?,
                    visits: super::store::visits(pool, learner_id).await?,
                    passed: super::passed_steps(pool, learner_id).await?,
                });
                self.keep(learner_id, since, facts.clone());
                facts
            }
        };
        Ok(super::computed(
            course,
            &facts.visits,
            &facts.passed,
            &facts.answered,
        ))
    }

    /// Records that `learner_id` opened `module_id` (at most once a minute per module), and
    /// forgets their kept progress when it wrote.
    pub async fn opened(
        &self,
        pool: &AnyPool,
        learner_id: i64,
        module_id: &str,
    ) -> Result<(), sqlx::Error> {
        if self.visits.opened(pool, learner_id, module_id).await? {
            self.learner_changed(learner_id);
        }
        Ok(())
    }

    /// Something `learner_id` did may have changed their own progress (a pass, an answer).
    pub fn learner_changed(&self, learner_id: i64) {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        let mut learners = self.learners.lock().unwrap_or_else(|e| e.into_inner());
        let learner = learners.entry(learner_id).or_default();
        learner.changed = tick;
        learner.kept = None;
    }

    /// Something a staff member did may have changed any learner's progress (a grade released).
    pub fn everyone_changed(&self) {
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.everyone.fetch_max(tick, Ordering::SeqCst);
        let mut learners = self.learners.lock().unwrap_or_else(|e| e.into_inner());
        learners.values_mut().for_each(|l| l.kept = None);
    }

    fn kept(&self, learner_id: i64) -> Option<Arc<Facts>> {
        let everyone = self.everyone.load(Ordering::SeqCst);
        let learners = self.learners.lock().unwrap_or_else(|e| e.into_inner());
        let learner = learners.get(&learner_id)?;
        let kept = learner.kept.as_ref()?;
        let current = kept.since >= learner.changed
            && kept.since >= everyone
            && kept.read_at.elapsed() < FRESH_FOR;
        current.then(|| kept.facts.clone())
    }

    /// Keeps `facts`, read from `since` on, unless a change came while they were read.
    fn keep(&self, learner_id: i64, since: u64, facts: Arc<Facts>) {
        if since < self.everyone.load(Ordering::SeqCst) {
            return;
        }
        let mut learners = self.learners.lock().unwrap_or_else(|e| e.into_inner());
        if learners.len() > self.prune_above.load(Ordering::Relaxed).max(PRUNE_ABOVE) {
            // A learner whose change may still be racing a read keeps their entry.
            let recent = self
                .clock
                .load(Ordering::SeqCst)
                .saturating_sub(PRUNE_ABOVE as u64);
            learners.retain(|_, l| {
                l.changed > recent
                    || l.kept
                        .as_ref()
                        .is_some_and(|k| k.read_at.elapsed() < FRESH_FOR)
            });
            self.prune_above
                .store(learners.len().saturating_mul(2), Ordering::Relaxed);
        }
        let learner = learners.entry(learner_id).or_default();
        if since < learner.changed {
            return;
        }
        learner.kept = Some(Kept {
            since,
            read_at: Instant::now(),
            facts,
        });
    }
}

/// Records module visits at most once a minute per learner and module, so page views stay reads.
#[derive(Debug, Default)]
struct VisitRecorder {
    recent: Mutex<HashMap<i64, HashMap<String, Instant>>>,
}

/// How often a repeated visit is written.
const VISIT_RESOLUTION: Duration = Duration::from_secs(60);

impl VisitRecorder {
    /// Records that `learner_id` opened `module_id`, unless that was recorded within the last
    /// minute; whether it wrote.
    async fn opened(
        &self,
        pool: &AnyPool,
        learner_id: i64,
        module_id: &str,
    ) -> Result<bool, sqlx::Error> {
        {
            // Looked up by `&str`, so the common case (recorded recently) allocates nothing.
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            let modules = recent.entry(learner_id).or_default();
            match modules.get_mut(module_id) {
                Some(at) if at.elapsed() < VISIT_RESOLUTION => return Ok(false),
                Some(at) => *at = Instant::now(),
                None => {
                    modules.insert(module_id.to_owned(), Instant::now());
                }
            }
        }
        super::store::record_visit(pool, learner_id, module_id).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Arc<Facts> {
        Arc::new(Facts {
            visits: HashMap::new(),
            passed: HashMap::new(),
            answered: HashMap::new(),
        })
    }

    #[test]
    fn what_was_read_is_used_until_a_change() {
        let memory = ProgressMemory::default();
        memory.keep(7, 0, facts());
        assert!(memory.kept(7).is_some());
        memory.learner_changed(8);
        assert!(memory.kept(7).is_some(), "another learner's change");
        memory.learner_changed(7);
        assert!(memory.kept(7).is_none(), "their own change");
        memory.keep(7, memory.clock.load(Ordering::SeqCst), facts());
        assert!(memory.kept(7).is_some());
        memory.everyone_changed();
        assert!(memory.kept(7).is_none(), "staff's change");
    }

    #[test]
    fn a_read_that_a_change_overtook_is_not_kept() {
        let memory = ProgressMemory::default();
        let since = memory.clock.load(Ordering::SeqCst);
        memory.learner_changed(7);
        memory.keep(7, since, facts());
        assert!(
            memory.kept(7).is_none(),
            "the learner changed during the read"
        );
        let since = memory.clock.load(Ordering::SeqCst);
        memory.everyone_changed();
        memory.keep(7, since, facts());
        assert!(
            memory.kept(7).is_none(),
            "staff changed something during the read"
        );
    }

    #[test]
    fn nothing_is_used_for_longer_than_fresh_for() {
        let memory = ProgressMemory::default();
        memory.keep(7, 0, facts());
        if let Some(kept) = memory
            .learners
            .lock()
            .unwrap()
            .get_mut(&7)
            .and_then(|l| l.kept.as_mut())
        {
            kept.read_at -= FRESH_FOR;
        }
        assert!(memory.kept(7).is_none());
    }
}
