//! Argon2id password hashing, and generated passwords for accounts created without one.
//!
//! Argon2 is deliberately costly (about 20 MB and tens of milliseconds of CPU each), so the server
//! never runs it on the async runtime: a [`Hasher`] runs it on blocking threads, a bounded number at
//! a time, and refuses at once when too many wait, so a flood of sign-ins cannot slow pages.
//!
//! Its 19 MiB working memory is allocated once per hash that may run at once and reused: freed
//! and allocated again on every sign-in, glibc would keep a copy per thread that ever hashed (a
//! server grew from 38 to 372 MB over one class's sign-ins).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// Working memory for Argon2, one buffer per permit, made on first use and kept.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            permits: Semaphore::new((cores / 2).max(1)),
            waiting: AtomicUsize::new(0),
            memory: Arc::default(),
        }
    }
}

impl Hasher {
    /// Hashes `password` off the async runtime.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let password = password.to_owned();
        self.run(move |memory| hash_now(&password, memory)).await
    }

    /// Whether `password` matches the stored hash, checked off the async runtime; with no stored
    /// hash (an unknown user) it checks against a decoy, so the answer takes as long as for a real one.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, Busy> {
        let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
        self.run(move |memory| {
            let stored_or_decoy = stored.as_deref().unwrap_or(decoy_hash());
            let matches = verify_now(&password, stored_or_decoy, memory);
            matches && stored.is_some()
        })
        .await
    }

    /// Runs Argon2 work on a blocking thread once a permit is free, lending it a working buffer
    /// that goes back to the pool afterwards.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| Busy)?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut memory = taken.unwrap_or_default();
            let result = work(&mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            result
        })
        .await
        .map_err(|_| Busy)
    }
}

/// Hashes with Argon2id (the crate's defaults follow OWASP's recommended parameters) and a random
/// salt, on the calling thread, in `memory`; the PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
fn hash_now(password: &str, memory: &mut Vec<Block>) -> String {
    let salt = SaltString::encode_b64(&crate::secrets::random_bytes::<16>())
        .expect("16 bytes is a valid salt");
    let params = Params::default();
    let output = argon2_output(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt,
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )
    .expect("argon2 with default parameters");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().expect("default parameters are valid"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// Whether `password` matches the stored PHC string (any Argon2 variant, version and parameters
/// it names), computed in `memory`; a malformed hash never matches. The comparison is constant-time.
fn verify_now(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm);
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let params = Params::try_from(&parsed);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    argon2_output(
        algorithm,
        version,
        params,
        password,
        &salt,
        expected.len(),
        memory,
    )
    .is_ok_and(|computed| computed == expected)
}

/// One Argon2 computation in `memory`, grown (once) to what `params` need.
fn argon2_output(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &str,
    salt: &impl AsRef<str>,
    output_len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; 64];
    let salt = argon2::password_hash::Salt::from_b64(salt.as_ref())?.decode_b64(&mut salt_bytes)?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *memory)
            .map_err(Into::into)
    })
}

/// A hash of a password nobody has, verified against for unknown users so that a wrong user name
/// takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_now("decoy password nobody can know", &mut Vec::new()))
}

/// A random 20-character password from an alphabet without look-alikes (no 0/O, 1/l/I).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    crate::secrets::random_bytes::<20>()
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
        let b = hash_now("correct horse battery", &mut Vec::new());
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
    fn hashes_read_and_are_read_by_the_argon2_crates_own_phc_code() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Vec::new();
        let ours = hash_now("correct horse battery", &mut memory);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now("correct horse battery", &theirs, &mut memory));
        assert!(!verify_now("correct horse batterY", &theirs, &mut memory));
        // Other parameters (an older or stronger setting) are read from the hash itself.
        let strong = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
        assert!(verify_now("correct horse battery", &strong, &mut memory));
        assert_eq!(memory.len(), 32 * 1024, "the buffer grew once to fit");
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
