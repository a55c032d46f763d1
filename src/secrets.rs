//! Secrets made and kept: random tokens (sessions, CSRF, launch states, pairing codes, bridge
//! tokens) and the hashes the database keeps instead of them. A leaf module that `auth`, `bridge`,
//! `lti` and `sso` all use.

use sha2::{Digest, Sha256};

/// `N` bytes from the operating system's random number generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the operating system's random number generator");
    bytes
}

/// The SHA-256 of a secret, in hex: how session tokens and sign-in states are stored, so a copy
/// of the database cannot be used to take them over.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// `N` random bytes as hex: states, nonces, tokens.
pub fn random_hex<const N: usize>() -> String {
    hex(&random_bytes::<N>())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
