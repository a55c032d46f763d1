//! `lectern connect`: the learner's machine opens an outbound WebSocket to the portal and relays the
//! portal's read-only API requests to the learner's own cluster, so the portal runs the checks itself
//! while the learner's credentials stay on their machine.
//!
//! [`protocol`] is the wire format; [`policy`] what the learner's side relays (read-only, no Secret
//! data); [`link`] the portal's end (one live link per learner, and the tower service kube-rs sends
//! requests through); [`peers`] the portal's other replicas, through which a bridge held by one of
//! them is used; [`store`] pairing codes, tokens and which replica holds each bridge.

pub mod link;
pub mod peers;
pub mod policy;
pub mod protocol;
mod store;

use base64::Engine;
use sqlx::AnyPool;

pub use link::{
    BridgeLink, Bridges, EventStream, Incoming, Learner, Link, LinkService, Outgoing, WatchAnswer,
};
pub use peers::Peers;
pub use store::Pairing;

/// What the portal knows of a live bridge, for the learner's "Your cluster" panel.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LinkInfo {
    /// When it connected (RFC 3339, UTC).
    pub connected_since: String,
    /// The address it connected from.
    pub from: String,
    /// The kubeconfig context it relays to: the one checks naming no context ask.
    pub context: String,
    /// Further contexts it relays (protocol version 3), for the checks that name them.
    #[serde(default)]
    pub contexts: Vec<String>,
    /// The local cluster's Kubernetes version, as the client reported it.
    pub server_version: String,
    /// The client program.
    pub client: String,
    /// The protocol version it speaks: version 1 relays no watches.
    #[serde(default = "first_version")]
    pub protocol: u32,
}

impl LinkInfo {
    /// Whether the bridge streams watches (protocol version 2 and later).
    pub fn streams_watches(&self) -> bool {
        self.protocol >= protocol::WATCH_VERSION
    }

    /// Whether a check naming `context` can ask it through this bridge: its first context, or
    /// (protocol version 3) one of the further ones.
    pub fn relays(&self, context: &str) -> bool {
        self.context == context
            || (self.protocol >= protocol::CONTEXTS_VERSION
                && self.contexts.iter().any(|c| c == context))
    }

    /// Every context it relays, the first first.
    pub fn all_contexts(&self) -> Vec<&str> {
        std::iter::once(self.context.as_str())
            .chain(self.contexts.iter().map(String::as_str))
            .collect()
    }
}

/// What a server that predates the field reports: version 1.
fn first_version() -> u32 {
    1
}

/// An answer relayed from the learner's cluster.
#[derive(Debug)]
pub struct Relayed {
    /// HTTP status.
    pub status: u16,
    /// Content negotiation headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request could not be relayed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// The connection closed before the answer came.
    #[error("your cluster connection closed: {0}")]
    Closed(String),
}

/// Why a bridge request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A pairing code that is unknown, used or expired.
    #[error(
        "this code is unknown, already used or expired: create a new one on the portal's Connect page"
    )]
    BadCode,
    /// The token was refused; the text says why.
    #[error("{0}")]
    Token(&'static str),
    /// Not this learner's pairing.
    #[error("no such paired machine")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A new bridge token, for the learner's machine to keep.
#[derive(Debug, serde::Serialize)]
pub struct Paired {
    /// The secret: shown once, stored hashed.
    pub token: String,
    /// Whose it is.
    pub learner: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
}

/// Letters a learner can copy without confusing them (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Creates a one-time pairing code for the learner, valid for ten minutes: `ABCD-EFGH`.
pub async fn create_code(pool: &AnyPool, learner_id: i64) -> Result<String, BridgeError> {
    let bytes: [u8; 8] = crate::secrets::random_bytes();
    let letters: String = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect();
    let code = format!("{}-{}", &letters[..4], &letters[4..]);
    store::insert_code(pool, learner_id, &code, crate::clock::unix_seconds()).await?;
    Ok(code)
}

/// Exchanges a pairing code (once) for a bridge token; `label` names the machine.
pub async fn pair(pool: &AnyPool, code: &str, label: &str) -> Result<Paired, BridgeError> {
    let code = code.trim().to_ascii_uppercase();
    let token = format!(
        "lbt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::secrets::random_bytes::<32>())
    );
    let label: String = label.chars().filter(|c| !c.is_control()).take(80).collect();
    match store::exchange_code(pool, &code, &token, &label, crate::clock::unix_seconds()).await? {
        Some((_, learner, expires_at)) => Ok(Paired {
            token,
            learner,
            expires_at: crate::clock::rfc3339(expires_at),
        }),
        None => Err(BridgeError::BadCode),
    }
}

/// The learner a bridge token belongs to, with the token's id.
pub async fn authenticate(pool: &AnyPool, token: &str) -> Result<(Learner, i64), BridgeError> {
    match store::token_state(pool, token, crate::clock::unix_seconds()).await? {
        store::TokenState::Valid {
            token_id,
            learner_id,
            username,
        } => Ok((
            Learner {
                id: learner_id,
                name: username,
            },
            token_id,
        )),
        store::TokenState::Unknown => Err(BridgeError::Token(
            "the portal does not know this token: pair again with the command on the portal's Connect page",
        )),
        store::TokenState::Expired => Err(BridgeError::Token(
            "this token has expired: pair again with the command on the portal's Connect page",
        )),
        store::TokenState::Revoked => Err(BridgeError::Token(
            "this token was revoked on the portal's Connect page: pair again to reconnect",
        )),
        store::TokenState::Deactivated => Err(BridgeError::Token(
            "your account on this portal is deactivated: ask its admins",
        )),
    }
}

/// The learner's paired machines.
pub async fn pairings(pool: &AnyPool, learner_id: i64) -> Result<Vec<Pairing>, BridgeError> {
    Ok(store::pairings(pool, learner_id, crate::clock::unix_seconds()).await?)
}

/// Revokes one of the learner's paired machines and closes its bridge if it is connected.
pub async fn revoke(
    pool: &AnyPool,
    bridges: &Bridges,
    learner_id: i64,
    pairing_id: i64,
) -> Result<(), BridgeError> {
    if !store::revoke(pool, learner_id, pairing_id, crate::clock::unix_seconds()).await? {
        return Err(BridgeError::NotFound);
    }
    bridges
        .close(
            learner_id,
            Some(pairing_id),
            "this machine's pairing was revoked on the portal",
        )
        .await;
    Ok(())
}

/// Closes the learner's live bridge, if any, wherever it is held (their account was deactivated).
pub async fn disconnect(bridges: &Bridges, learner_id: i64, reason: &str) {
    bridges.close(learner_id, None, reason).await;
}
