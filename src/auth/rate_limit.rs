//! Password-guessing throttles: failed attempts (sign-in, and the current-password check) are counted
//! in a sliding window, in memory (one server process owns the database, so one counter is the truth).
//!
//! The limits are built so that an attacker cannot turn them against users: failures count per
//! (account, address) and per address, so guessing at a known user name from one place locks out
//! that place, not the account's owner. A wider per-account limit stops a guesser who spreads over
//! many addresses, and it exempts the addresses the account recently signed in from.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed for one account from one address in the window.
pub const PER_ACCOUNT_AND_ADDRESS: usize = 5;
/// Failures allowed from one address in the window, over all accounts (people behind one NAT).
pub const PER_ADDRESS: usize = 20;
/// Failures allowed for one account in the window from addresses it has not signed in from.
pub const PER_ACCOUNT_FROM_NEW_ADDRESSES: usize = 50;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a successful sign-in makes an address known for its account.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Counts recent failures by key, and remembers where each account signed in from.
#[derive(Debug, Default)]
pub struct RateLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: HashMap<Key, VecDeque<Instant>>,
    known: HashMap<String, HashMap<IpAddr, Instant>>,
    recorded: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Account(String),
}

impl RateLimiter {
    /// How long until `account` from `address` may try again; `None` when it may now.
    pub fn retry_after(&self, account: &str, address: IpAddr) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let account = account.to_lowercase();
        let now = Instant::now();
        let known = state.is_known(&account, address, now);
        let mut limits = vec![
            (Key::Pair(account.clone(), address), PER_ACCOUNT_AND_ADDRESS),
            (Key::Address(address), PER_ADDRESS),
        ];
        if !known {
            limits.push((Key::Account(account), PER_ACCOUNT_FROM_NEW_ADDRESSES));
        }
        limits
            .into_iter()
            .filter_map(|(key, limit)| {
                let times = state.failures.get_mut(&key)?;
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
    pub fn failed(&self, account: &str, address: IpAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let account = account.to_lowercase();
        let now = Instant::now();
        let known = state.is_known(&account, address, now);
        let mut keys = vec![Key::Pair(account.clone(), address), Key::Address(address)];
        if !known {
            keys.push(Key::Account(account));
        }
        for key in keys {
            state.failures.entry(key).or_default().push_back(now);
        }
        state.forget_old(now);
    }

    /// A successful sign-in clears the count for this account from this address, and makes the
    /// address known for the account.
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let account = account.to_lowercase();
        state.failures.remove(&Key::Pair(account.clone(), address));
        state
            .known
            .entry(account)
            .or_default()
            .insert(address, Instant::now());
    }
}

impl State {
    fn is_known(&self, account: &str, address: IpAddr, now: Instant) -> bool {
        self.known
            .get(account)
            .and_then(|addresses| addresses.get(&address))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR)
    }

    /// Every 1,024 failures, drops counters whose failures all left the window, so memory stays
    /// bounded by recent activity.
    fn forget_old(&mut self, now: Instant) {
        self.recorded += 1;
        if !self.recorded.is_multiple_of(1024) {
            return;
        }
        self.failures.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) <= WINDOW)
        });
        let stale: HashSet<String> = self
            .known
            .iter()
            .filter(|(_, addresses)| {
                addresses
                    .values()
                    .all(|at| now.duration_since(*at) >= KNOWN_FOR)
            })
            .map(|(account, _)| account.clone())
            .collect();
        self.known.retain(|account, _| !stale.contains(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn guessing_from_one_address_locks_that_address_out_of_the_account_not_its_owner() {
        let limiter = RateLimiter::default();
        for _ in 0..PER_ACCOUNT_AND_ADDRESS {
            assert!(limiter.retry_after("ada", ip("192.0.2.66")).is_none());
            limiter.failed("ada", ip("192.0.2.66"));
        }
        assert!(
            limiter.retry_after("ADA", ip("192.0.2.66")).is_some(),
            "case-insensitive"
        );
        assert!(
            limiter.retry_after("ada", ip("198.51.100.7")).is_none(),
            "the owner elsewhere"
        );
        assert!(limiter.retry_after("grace", ip("192.0.2.66")).is_none());
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let limiter = RateLimiter::default();
        for i in 0..PER_ADDRESS {
            limiter.failed(&format!("user{i}"), ip("192.0.2.1"));
        }
        assert!(
            limiter
                .retry_after("someone-else", ip("192.0.2.1"))
                .is_some()
        );
        assert!(
            limiter
                .retry_after("someone-else", ip("192.0.2.2"))
                .is_none()
        );
    }

    #[test]
    fn guessing_from_many_addresses_is_stopped_but_the_owners_known_address_is_not() {
        let limiter = RateLimiter::default();
        limiter.succeeded("ada", ip("198.51.100.7"));
        for i in 0..PER_ACCOUNT_FROM_NEW_ADDRESSES {
            limiter.failed("ada", ip(&format!("10.0.{}.{}", i / 200, i % 200)));
        }
        assert!(
            limiter.retry_after("ada", ip("10.9.9.9")).is_some(),
            "a new address"
        );
        assert!(
            limiter.retry_after("ada", ip("198.51.100.7")).is_none(),
            "the owner's address"
        );
    }
}
