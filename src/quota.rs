//! Per-learner rate limits on what costs the server (check runs reach a cluster; answer saves
//! grow the database): a token bucket per learner, in memory, refilled at a steady rate, so a
//! learner can work in bursts but one learner (or one stolen session) cannot flood. The same
//! buckets, keyed by client address, throttle what anonymous visitors may start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many buckets one limit keeps before it forgets the full ones.
const MAX_BUCKETS: usize = 10_000;

/// One limit, kept per learner.
#[derive(Debug)]
pub struct LearnerQuota {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl LearnerQuota {
    /// Allows `burst` actions at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one action for the client at `address`, or says how long until one is allowed.
    pub fn take_for_address(&self, address: std::net::IpAddr) -> Result<(), Duration> {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        address.hash(&mut hasher);
        self.take(hasher.finish() as i64)
    }

    /// Takes one action for `learner_id`, or says how long until one is allowed.
    pub fn take(&self, learner_id: i64) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if buckets.len() >= MAX_BUCKETS {
            // Buckets refilled to the full burst are the same as none: forget them, so that
            // clients from ever new addresses cannot grow the map.
            let (burst, per_second) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets.entry(learner_id).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

/// The limits a server enforces per learner.
#[derive(Debug)]
pub struct Quotas {
    /// "Check my work": 20 at once (enough to check every step of module 01's lab, and retry some),
    /// then 12 a minute (each run asks the cluster dozens of questions).
    pub check_runs: LearnerQuota,
    /// Saved answers (drafts and submissions): 30 at once, then 20 a minute.
    pub answer_saves: LearnerQuota,
    /// `lectern connect` pairing attempts, per client address (codes are short): 10 at once, then
    /// 6 a minute.
    pub pairings: LearnerQuota,
    /// Anonymous sign-ins begun (single sign-on, LTI logins), per client address, each of which
    /// writes a row until it completes or expires: 60 at once (a class behind one address), then
    /// 60 a minute.
    pub sign_in_starts: LearnerQuota,
    /// `--watch`'s live-reload streams: one per page per learner, 16 per learner in all.
    pub live_reload: StreamSlots,
    /// Pages following a lab's live checks (`/api/labs/{lab}/live`).
    pub live_checks: StreamSlots,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            check_runs: LearnerQuota::new(20, 12),
            answer_saves: LearnerQuota::new(30, 20),
            pairings: LearnerQuota::new(10, 6),
            sign_in_starts: LearnerQuota::new(60, 60),
            live_reload: StreamSlots::new(16),
            live_checks: StreamSlots::new(16),
        }
    }
}

/// Long-lived streams a learner holds open, each a connection: one per page (a newer one for the
/// same page replaces it: the page was reloaded), and at most `max` in all (more are refused).
#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    next_id: AtomicU64,
    open: Arc<Mutex<HashMap<i64, Vec<OpenStream>>>>,
}

#[derive(Debug)]
struct OpenStream {
    id: u64,
    page: String,
    /// Dropped to tell the stream it was replaced.
    _replaced: tokio::sync::oneshot::Sender<()>,
}

/// One open stream's place; it frees itself when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    learner_id: i64,
    id: u64,
    open: Arc<Mutex<HashMap<i64, Vec<OpenStream>>>>,
    /// Completes when a newer stream of the same page replaced this one.
    pub replaced: tokio::sync::oneshot::Receiver<()>,
}

impl StreamSlots {
    /// At most `max` streams per learner.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            next_id: AtomicU64::new(0),
            open: Arc::default(),
        }
    }

    /// A place for a new stream of `page`, replacing the learner's older one of that page; `None`
    /// when the learner already holds the most.
    pub fn open(&self, learner_id: i64, page: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let streams = open.entry(learner_id).or_default();
        streams.retain(|s| s.page != page);
        if streams.len() >= self.max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (replaced_tx, replaced) = tokio::sync::oneshot::channel();
        streams.push(OpenStream {
            id,
            page: page.to_owned(),
            _replaced: replaced_tx,
        });
        Some(StreamSlot {
            learner_id,
            id,
            open: self.open.clone(),
            replaced,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(streams) = open.get_mut(&self.learner_id) {
            streams.retain(|s| s.id != self.id);
            if streams.is_empty() {
                open.remove(&self.learner_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learner_holds_one_stream_per_page_and_a_few_in_all() {
        let slots = StreamSlots::new(2);
        use tokio::sync::oneshot::error::TryRecvError;
        let mut first = slots.open(1, "/modules/a").unwrap();
        assert_eq!(first.replaced.try_recv(), Err(TryRecvError::Empty), "open");
        let again = slots.open(1, "/modules/a").unwrap();
        assert_eq!(
            first.replaced.try_recv(),
            Err(TryRecvError::Closed),
            "replaced by the reload"
        );
        let _other = slots.open(1, "/modules/b").unwrap();
        assert!(slots.open(1, "/modules/c").is_none(), "two in all");
        assert!(slots.open(2, "/modules/c").is_some(), "per learner");
        drop(again);
        assert!(
            slots.open(1, "/modules/c").is_some(),
            "a closed stream frees its place"
        );
    }

    #[test]
    fn full_buckets_are_forgotten_so_new_addresses_cannot_grow_the_map() {
        // Refilled at once: every bucket is full again by the time the map is pruned.
        let quota = LearnerQuota::new(1, u32::MAX);
        for key in 0..MAX_BUCKETS as i64 {
            quota.take(key).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
        quota.take(-1).unwrap();
        let kept = quota.buckets.lock().unwrap().len();
        assert!(kept < 10, "{kept} buckets kept");
        let quota = LearnerQuota::new(2, 60);
        let address = "192.0.2.7".parse().unwrap();
        quota.take_for_address(address).unwrap();
        quota.take_for_address(address).unwrap();
        assert!(quota.take_for_address(address).is_err());
    }

    #[test]
    fn a_burst_is_allowed_then_the_rate_and_each_learner_has_their_own() {
        let quota = LearnerQuota::new(3, 60);
        for _ in 0..3 {
            assert!(quota.take(1).is_ok());
        }
        let wait = quota.take(1).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(quota.take(2).is_ok(), "another learner");
    }
}
