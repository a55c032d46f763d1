//! Argon2id password hashing, and generated passwords for accounts created without one.
//!
//! Argon2 is deliberately costly (about 20 MB and tens of milliseconds of CPU each), so the server
//! never runs it on the async runtime: a [`Hasher`] runs it on blocking threads, a bounded number at
//! a time, and refuses at once when too many wait, so a flood of sign-ins cannot slow pages.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

/// Shortest password accepted when a person chooses one.
pub const MIN_LENGTH: usize = 10;

/// More password checks than this waiting at once are refused rather than queued.
const MAX_WAITING: usize = 64;

/// Too many password checks are waiting; the caller should try again in a few seconds.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Lectern is busy checking passwords; try again in a few seconds")]
pub struct Busy;

/// Runs Argon2 on blocking threads, at most half the cores (at least one) at a time so the rest
/// keep serving pages, and refuses work when more than [`MAX_WAITING`] requests already wait.
#[derive(Debug)]
pub struct Hasher {
    permits: Semaphore,
    waiting: AtomicUsize,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            permits: Semaphore::new((cores / 2).max(1)),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Hasher {
    /// Hashes `password` off the async runtime.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await
    }

    /// Whether `password` matches the stored hash, checked off the async runtime; with no stored
    /// hash (an unknown user) it checks against a decoy, so the answer takes as long as for a real one.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, Busy> {
        let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
        self.run(move || {
            let matches = verify_now(&password, stored.as_deref().unwrap_or(decoy_hash()));
            matches && stored.is_some()
        })
        .await
    }

    /// Runs Argon2 work on a blocking thread once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
    }
}

/// Hashes with Argon2id (the crate's defaults follow OWASP's recommended parameters) and a random
/// salt, on the calling thread.
fn hash_now(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&super::random_bytes::<16>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Whether `password` matches the stored PHC string; a malformed hash never matches.
fn verify_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a password nobody has, verified against for unknown users so that a wrong user name
/// takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_now("decoy password nobody can know"))
}

/// A random 20-character password from an alphabet without look-alikes (no 0/O, 1/l/I).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    super::random_bytes::<20>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Checks a chosen password against the rules, saying what is wrong.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("use at least {MIN_LENGTH} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_unique_salts() {
        let hasher = Hasher::default();
        let a = hasher.hash("correct horse battery").await.unwrap();
        let b = hash_now("correct horse battery");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(
            hasher
                .verify("correct horse battery", Some(&a))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse batterY", Some(&a))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("x", Some("not a hash")).await.unwrap());
        assert!(
            !hasher
                .verify("decoy password nobody can know", None)
                .await
                .unwrap(),
            "no account, no match, even with the decoy's password"
        );
    }

    #[test]
    fn generated_passwords_are_long_and_strong_enough() {
        let p = generate();
        assert_eq!(p.len(), 20);
        assert!(check_strength(&p).is_ok());
        assert_ne!(p, generate());
        assert!(check_strength("short").is_err());
    }
}
