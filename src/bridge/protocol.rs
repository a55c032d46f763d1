//! The bridge protocol: JSON text frames over one WebSocket that the learner's `lectern connect`
//! opens to the portal. The portal sends `request` frames; the learner's side answers each with
//! exactly one `response` (or `refused`) frame carrying the same id. Several requests may be in
//! flight at once. Unknown frame types are a protocol error; new capabilities arrive as new frame
//! types under a new version.
//!
//! Version 2 adds streamed watches: the portal sends `watch` (a `GET …?watch=true` of a
//! collection); the learner's side answers `stream` when the cluster opened it, then `events`
//! frames (whole JSON lines, as the API server sends them) until `end`, or a single `response` /
//! `refused` when it did not open. `cancel` stops one. Watches are multiplexed by id beside the
//! requests, at most [`MAX_WATCHES`] per bridge, and the events the portal has not yet read are
//! bounded per bridge ([`MAX_BUFFERED_BYTES`]): a watch that falls further behind is cancelled,
//! and its watcher lists again. A version-1 client still works: the portal relays it no watch.
//!
//! Version 3 relays several kubeconfig contexts: `hello` lists the `contexts` relayed beside the
//! first (`context`, which checks naming no context ask), and a `request` or `watch` for another
//! one names it in `context`. Only a version-3 client is sent a `context` (older ones refuse an
//! unknown field), and a frame for the first context is the same as in version 2.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 3;

/// The oldest client version the portal accepts: version 1 relays single requests only.
pub const OLDEST_VERSION: u32 = 1;

/// The first version that streams watches.
pub const WATCH_VERSION: u32 = 2;

/// The first version that relays several contexts.
pub const CONTEXTS_VERSION: u32 = 3;

/// The most contexts one client relays: a lab needs two or three clusters.
pub const MAX_CONTEXTS: usize = 8;

/// How many watches may be open on one bridge at once: a step reads a handful of kinds, and
/// watches are shared by all of a learner's steps.
pub const MAX_WATCHES: usize = 32;

/// How many bytes of events the portal holds for one bridge before its watchers read them: a
/// watch that would hold more is cancelled (its watcher lists again), so a flood cannot grow the
/// portal's memory.
pub const MAX_BUFFERED_BYTES: usize = 4 * 1024 * 1024;

/// The most event bytes the learner's side puts in one `events` frame (base64 adds a third).
pub const MAX_EVENTS_BYTES: usize = 1024 * 1024;

/// The largest frame either side accepts: a list of a few thousand pods fits; anything larger closes
/// the connection.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The socket buffers either side starts with (they grow for large frames): small, because an idle
/// bridge should cost the portal little memory.
pub const BUFFER_BYTES: usize = 8 * 1024;

/// How many portal requests may wait for answers on one bridge at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// A frame from the learner's machine to the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Up {
    /// The first frame: who is connecting, and to which cluster.
    Hello {
        /// The protocol version the client speaks.
        version: u32,
        /// The kubeconfig context the client relays to: the one asked by checks that name none.
        context: String,
        /// Version 3: further contexts it relays, asked by the checks that name them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        contexts: Vec<String>,
        /// The local cluster's version (`gitVersion`), or empty if it did not answer.
        server_version: String,
        /// The client program, e.g. `lectern 0.1.0`.
        client: String,
    },
    /// The local cluster's answer to a request.
    Response {
        /// The request's id.
        id: u64,
        /// HTTP status.
        status: u16,
        /// Response headers worth relaying (content type).
        headers: Vec<(String, String)>,
        /// The body, base64.
        body: String,
    },
    /// The learner's side did not forward the request: not read-only, or the cluster did not answer.
    Refused {
        /// The request's id.
        id: u64,
        /// HTTP status to answer the portal with (403 not allowed, 502 cluster unreachable, 504 timeout).
        status: u16,
        /// Why, in words for the portal's messages.
        reason: String,
    },
    /// Version 2: the cluster opened the watch asked for; `events` frames follow.
    Stream {
        /// The watch's id.
        id: u64,
        /// HTTP status (200).
        status: u16,
        /// Response headers worth relaying (content type).
        headers: Vec<(String, String)>,
    },
    /// Version 2: watch events, one or more whole JSON lines as the API server sent them.
    Events {
        /// The watch's id.
        id: u64,
        /// The lines, base64.
        body: String,
    },
    /// Version 2: the watch ended; the cluster closed it (empty reason) or it failed (why).
    End {
        /// The watch's id.
        id: u64,
        /// Empty when the cluster ended it as watches end (their timeout).
        reason: String,
    },
}

/// A frame from the portal to the learner's machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Down {
    /// The answer to `hello`: accepted, for this learner.
    Welcome {
        /// The protocol version the portal speaks.
        version: u32,
        /// The learner's user name on the portal.
        learner: String,
    },
    /// An API request to relay to the local cluster.
    Request {
        /// Unique on this connection.
        id: u64,
        /// `GET` or `POST`.
        method: String,
        /// Path and query, e.g. `/api/v1/nodes?labelSelector=…`.
        path: String,
        /// Request headers worth relaying (accept, content type).
        headers: Vec<(String, String)>,
        /// The body, base64 (empty for `GET`).
        body: String,
        /// Version 3: the context to ask, when not the first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// Version 2: a watch to open on the local cluster and stream back.
    Watch {
        /// Unique on this connection (shared with requests).
        id: u64,
        /// Path and query, with `watch=true`.
        path: String,
        /// Request headers worth relaying (accept).
        headers: Vec<(String, String)>,
        /// Version 3: the context to ask, when not the first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// Version 2: stop a watch; its late frames are ignored.
    Cancel {
        /// The watch's id.
        id: u64,
    },
    /// What the portal just did with the bridge, for the learner's terminal.
    Note {
        /// One line.
        text: String,
    },
}

/// Encodes a body for a frame.
pub fn encode_body(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a frame's body.
pub fn decode_body(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("body is not base64: {e}"))
}

/// The headers a relayed request or response keeps: content negotiation only, never credentials.
pub fn relayed_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "accept" | "content-type"
    )
}

/// The headers of a request or response that cross the bridge ([`relayed_header`]), as frames
/// carry them.
pub fn relayed_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| relayed_header(name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_json_and_unknown_fields_are_refused() {
        let frame = Down::Request {
            id: 7,
            method: "GET".into(),
            path: "/version".into(),
            headers: vec![],
            body: String::new(),
            context: None,
        };
        let text = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            text,
            r#"{"type":"request","id":7,"method":"GET","path":"/version","headers":[],"body":""}"#,
            "a request for the first context is a version-2 frame"
        );
        assert_eq!(serde_json::from_str::<Down>(&text).unwrap(), frame);
        assert!(
            serde_json::from_str::<Up>(
                r#"{"type":"response","id":1,"status":200,"headers":[],"body":"","extra":1}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Up>(r#"{"type":"shell","cmd":"rm"}"#).is_err());
    }
}
