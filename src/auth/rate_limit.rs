//! Password-guessing throttles: failed attempts (sign-in, and the current-password check) are counted
//! in a sliding window, in the database, so every server of a portal counts the same failures and
//! a restart forgets none.
//!
//! The limits are built so that an attacker cannot turn them against users: failures count per
//! (account, address) and per address, so guessing at a known user name from one place locks out
//! that place, not the account's owner. A wider per-account limit stops a guesser who spreads over
//! many addresses: once reached, an address that already failed for the account waits, so each
//! further address gets one guess. It never stops an address that has not failed for the account
//! (the owner on a new network, or a new account that never signed in), nor the addresses the
//! account recently signed in from.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::AnyPool;

use super::store;

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

fn pair(account: &str, address: IpAddr) -> String {
    format!("pair:{account} {address}")
}

/// Which failures a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    /// This account from this address.
    Pair,
    /// This address, over all accounts.
    Address,
    /// This account from addresses it has not signed in from lately; it stops only an address
    /// that already failed for the account.
    Account,
}

/// The keys a failure of `account` from `address` counts against, with their limits, the pair's
/// first: the per-account one only from an address the account has not signed in from lately.
async fn keys(
    pool: &AnyPool,
    account: &str,
    address: IpAddr,
    now: i64,
) -> Result<Vec<(Counter, String, usize)>, sqlx::Error> {
    let known_since = now - KNOWN_FOR.as_millis() as i64;
    let known = store::address_known(pool, account, &address.to_string(), known_since).await?;
    let mut keys = vec![
        (
            Counter::Pair,
            pair(account, address),
            PER_ACCOUNT_AND_ADDRESS,
        ),
        (Counter::Address, format!("address:{address}"), PER_ADDRESS),
    ];
    if !known {
        keys.push((
            Counter::Account,
            format!("account:{account}"),
            PER_ACCOUNT_FROM_NEW_ADDRESSES,
        ));
    }
    Ok(keys)
}

/// How long until `account` from `address` may try again; `None` when it may now.
pub async fn retry_after(
    pool: &AnyPool,
    account: &str,
    address: IpAddr,
) -> Result<Option<Duration>, sqlx::Error> {
    let account = account.to_lowercase();
    let now = crate::clock::unix_millis();
    let window_start = now - WINDOW.as_millis() as i64;
    let mut wait = None;
    let mut failed_here = false;
    for (counter, key, limit) in keys(pool, &account, address, now).await? {
        if counter == Counter::Account && !failed_here {
            continue;
        }
        let (count, oldest) = store::failures_since(pool, &key, window_start).await?;
        if counter == Counter::Pair {
            failed_here = count > 0;
        }
        if count as usize >= limit {
            let waited = Duration::from_millis((now - oldest).max(0) as u64);
            wait = wait.max(Some(WINDOW.saturating_sub(waited)));
        }
    }
    Ok(wait)
}

/// Records a failed attempt (and forgets failures that left the window).
pub async fn failed(pool: &AnyPool, account: &str, address: IpAddr) -> Result<(), sqlx::Error> {
    let account = account.to_lowercase();
    let now = crate::clock::unix_millis();
    let keys: Vec<String> = keys(pool, &account, address, now)
        .await?
        .into_iter()
        .map(|(_, key, _)| key)
        .collect();
    store::record_failure(pool, &keys, now, now - WINDOW.as_millis() as i64).await
}

/// A successful sign-in clears the count for this account from this address, and makes the
/// address known for the account.
pub async fn succeeded(pool: &AnyPool, account: &str, address: IpAddr) -> Result<(), sqlx::Error> {
    let account = account.to_lowercase();
    store::record_success(
        pool,
        &pair(&account, address),
        (&account, &address.to_string()),
        crate::clock::unix_millis(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    async fn database() -> (tempfile::TempDir, AnyPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(&crate::db::Location::Sqlite(dir.path().join("l.db")))
            .await
            .unwrap();
        (dir, pool)
    }

    #[tokio::test]
    async fn guessing_from_one_address_locks_that_address_out_of_the_account_not_its_owner() {
        let (_dir, pool) = database().await;
        for _ in 0..PER_ACCOUNT_AND_ADDRESS {
            let wait = retry_after(&pool, "ada", ip("192.0.2.66")).await.unwrap();
            assert!(wait.is_none());
            failed(&pool, "ada", ip("192.0.2.66")).await.unwrap();
        }
        let wait = retry_after(&pool, "ADA", ip("192.0.2.66")).await.unwrap();
        assert!(
            wait.is_some_and(|w| w > WINDOW - Duration::from_secs(60)),
            "case-insensitive, for the window: {wait:?}"
        );
        let owner = retry_after(&pool, "ada", ip("198.51.100.7")).await.unwrap();
        assert!(owner.is_none(), "the owner elsewhere");
        let other = retry_after(&pool, "grace", ip("192.0.2.66")).await.unwrap();
        assert!(other.is_none());
        // Signing in from there clears that pair.
        succeeded(&pool, "ada", ip("192.0.2.66")).await.unwrap();
        let cleared = retry_after(&pool, "ada", ip("192.0.2.66")).await.unwrap();
        assert!(cleared.is_none());
    }

    #[tokio::test]
    async fn an_address_is_throttled_across_accounts() {
        let (_dir, pool) = database().await;
        for i in 0..PER_ADDRESS {
            failed(&pool, &format!("user{i}"), ip("192.0.2.1"))
                .await
                .unwrap();
        }
        let same = retry_after(&pool, "someone-else", ip("192.0.2.1")).await;
        assert!(same.unwrap().is_some());
        let other = retry_after(&pool, "someone-else", ip("192.0.2.2")).await;
        assert!(other.unwrap().is_none());
    }

    #[tokio::test]
    async fn guessing_from_many_addresses_is_stopped_but_the_owners_known_address_is_not() {
        let (_dir, pool) = database().await;
        succeeded(&pool, "ada", ip("198.51.100.7")).await.unwrap();
        for i in 0..PER_ACCOUNT_FROM_NEW_ADDRESSES {
            let address = ip(&format!("10.0.{}.{}", i / 200, i % 200));
            failed(&pool, "ada", address).await.unwrap();
        }
        let guesser = retry_after(&pool, "ada", ip("10.0.0.1")).await.unwrap();
        assert!(guesser.is_some(), "an address that failed for ada waits");
        let new = retry_after(&pool, "ada", ip("10.9.9.9")).await.unwrap();
        assert!(new.is_none(), "a new address gets its one try");
        failed(&pool, "ada", ip("10.9.9.9")).await.unwrap();
        let new = retry_after(&pool, "ada", ip("10.9.9.9")).await.unwrap();
        assert!(new.is_some(), "and no second");
        let known = retry_after(&pool, "ada", ip("198.51.100.7")).await.unwrap();
        assert!(known.is_none(), "the owner's address");
    }

    #[tokio::test]
    async fn a_new_account_is_never_locked_out_where_it_has_not_failed() {
        let (_dir, pool) = database().await;
        for i in 0..PER_ACCOUNT_FROM_NEW_ADDRESSES * 2 {
            let address = ip(&format!("10.1.{}.{}", i / 200, i % 200));
            failed(&pool, "new-learner", address).await.unwrap();
        }
        let owner = retry_after(&pool, "new-learner", ip("203.0.113.5"))
            .await
            .unwrap();
        assert!(owner.is_none(), "the owner's first sign-in, from home");
    }
}
