//! Sign-in throttling: failed attempts are counted per account and per client address in a sliding
//! window, in memory (one server process owns the database, so one counter is the truth).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per account in the window.
pub const PER_ACCOUNT: usize = 5;
/// Failures allowed per client address in the window (several people may share one NAT address).
pub const PER_ADDRESS: usize = 20;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts recent failures by key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// How long until `account` from `address` may try again; `None` when it may now.
    pub fn retry_after(&self, account: &str, address: &str) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        [
            (account_key(account), PER_ACCOUNT),
            (address_key(address), PER_ADDRESS),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let times = failures.get_mut(&key)?;
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > WINDOW)
            {
                times.pop_front();
            }
            let oldest = *times.front()?;
            (times.len() >= limit).then(|| WINDOW.saturating_sub(now.duration_since(oldest)))
        })
        .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, account: &str, address: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in [account_key(account), address_key(address)] {
            failures.entry(key).or_default().push_back(Instant::now());
        }
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    format!("account:{}", account.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_five_failures_from_any_address() {
        let limiter = RateLimiter::default();
        for i in 0..PER_ACCOUNT {
            assert!(limiter.retry_after("ada", &format!("10.0.0.{i}")).is_none());
            limiter.failed("ada", &format!("10.0.0.{i}"));
        }
        assert!(
            limiter.retry_after("ADA", "10.9.9.9").is_some(),
            "per account, case-insensitive"
        );
        assert!(limiter.retry_after("grace", "10.9.9.9").is_none());
        limiter.succeeded("ada");
        assert!(limiter.retry_after("ada", "10.9.9.9").is_none());
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let limiter = RateLimiter::default();
        for i in 0..PER_ADDRESS {
            limiter.failed(&format!("user{i}"), "192.0.2.1");
        }
        assert!(limiter.retry_after("someone-else", "192.0.2.1").is_some());
        assert!(limiter.retry_after("someone-else", "192.0.2.2").is_none());
    }
}
