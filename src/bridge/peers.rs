//! Several servers of one portal (PostgreSQL): a learner's bridge is held by the server their
//! `lectern connect` reached, and another server that needs it asks that one to relay.
//!
//! Each server that another can reach says where (`--replica-url`); the holder of each bridge is
//! recorded in `bridge_holders`. The servers prove themselves to each other with a secret the first
//! of them stored in the database (`replica_secret`), sent as `Authorization: Bearer …` to the
//! holder's `/api/replicas/bridges/{learner}` endpoints (`http/bridge.rs`). A record whose holder
//! does not answer, or no longer holds the bridge, counts as no bridge: the learner's
//! `lectern connect` reconnects, to whichever server, and records itself again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use super::store;
use super::{LinkError, LinkInfo, Relayed, WatchAnswer};

/// The header in which a holder gives the cluster's status of a watch it streams.
pub const WATCH_STATUS: &str = "lectern-watch-status";

/// How long a holder may take to say whether it holds a bridge.
const STATUS_WITHIN: Duration = Duration::from_secs(2);

/// This server's place among the portal's servers.
#[derive(Clone)]
pub struct Peers {
    pool: AnyPool,
    own_url: Arc<str>,
    secret: Arc<str>,
    http: reqwest::Client,
    relay_within: Duration,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("own_url", &self.own_url)
            .finish_non_exhaustive()
    }
}

impl Peers {
    /// Joins the portal's servers as `own_url` (how they reach this one): reads the shared secret
    /// (making it if this is the first server) and forgets the bridges this URL held in a previous
    /// run. `relay_within` bounds one relayed request (the cluster timeout, plus the relay's own).
    pub async fn join(
        pool: AnyPool,
        own_url: &str,
        relay_within: Duration,
    ) -> Result<Self, sqlx::Error> {
        let candidate = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::secrets::random_bytes::<32>());
        let secret = store::replica_secret(&pool, &candidate).await?;
        let own_url = own_url.trim_end_matches('/');
        store::release_all(&pool, own_url).await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Ok(Self {
            pool,
            own_url: own_url.into(),
            secret: secret.into(),
            http,
            relay_within: relay_within + Duration::from_secs(5),
        })
    }

    /// Whether `authorization` (the header's value) is another server of this portal.
    pub fn authorizes(&self, authorization: &str) -> bool {
        let presented = authorization.strip_prefix("Bearer ").unwrap_or_default();
        // Comparing digests: the time taken says nothing about the secret.
        Sha256::digest(presented.as_bytes()) == Sha256::digest(self.secret.as_bytes())
    }

    /// Records that this server holds the learner's bridge `serial`.
    pub(super) async fn hold(&self, learner_id: i64, serial: u64) {
        if let Err(e) = store::hold(
            &self.pool,
            learner_id,
            &self.own_url,
            serial,
            crate::clock::unix_seconds(),
        )
        .await
        {
            tracing::warn!(learner_id, "cannot record the bridge's server: {e}");
        }
    }

    /// Forgets that this server holds the learner's bridge `serial` (it closed).
    pub(super) async fn release(&self, learner_id: i64, serial: u64) {
        if let Err(e) = store::release(&self.pool, learner_id, &self.own_url, serial).await {
            tracing::warn!(learner_id, "cannot forget the bridge's server: {e}");
        }
    }

    /// The learner's bridge at the server that holds it, if another server does and answers.
    pub(super) async fn find(&self, learner_id: i64) -> Option<RemoteLink> {
        let holder = store::holder(&self.pool, learner_id).await.ok()??;
        if *holder == *self.own_url {
            return None; // recorded here, but closed since
        }
        let status: HeldStatus = self
            .http
            .get(format!("{holder}/api/replicas/bridges/{learner_id}"))
            .bearer_auth(&*self.secret)
            .timeout(STATUS_WITHIN)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()?;
        Some(RemoteLink {
            peers: self.clone(),
            learner_id,
            holder,
            status,
            relayed: AtomicU64::new(0),
        })
    }

    /// Asks the server that holds the learner's bridge to close it, if another server does.
    pub(super) async fn close(&self, learner_id: i64, close: &CloseRequest) {
        let Ok(Some(holder)) = store::holder(&self.pool, learner_id).await else {
            return;
        };
        if *holder == *self.own_url {
            return;
        }
        let sent = self
            .http
            .post(format!("{holder}/api/replicas/bridges/{learner_id}/close"))
            .bearer_auth(&*self.secret)
            .timeout(STATUS_WITHIN)
            .json(close)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(learner_id, %holder, "cannot ask the bridge's server to close it: {e}");
        }
    }
}

/// What the holder says of a bridge it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldStatus {
    /// What the bridge reported when it connected.
    pub info: LinkInfo,
    /// Whether the learner's cluster answered the last request.
    pub cluster_answers: bool,
    /// The holder's number for this connection.
    pub serial: u64,
}

/// One API request for the holder to relay.
#[derive(Debug, Serialize, Deserialize)]
pub struct RelayRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The headers the protocol relays.
    pub headers: Vec<(String, String)>,
    /// The body, base64.
    pub body: String,
    /// The context to ask, when not the bridge's first (protocol version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The holder's answer to a [`RelayRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub struct RelayAnswer {
    /// HTTP status of the learner's cluster.
    pub status: u16,
    /// Its content negotiation headers.
    pub headers: Vec<(String, String)>,
    /// Its body, base64.
    pub body: String,
}

impl From<Relayed> for RelayAnswer {
    fn from(relayed: Relayed) -> Self {
        Self {
            status: relayed.status,
            headers: relayed.headers,
            body: super::protocol::encode_body(&relayed.body),
        }
    }
}

impl RelayAnswer {
    /// The answer as the holder relayed it, its body decoded.
    fn into_relayed(self) -> Result<Relayed, String> {
        Ok(Relayed {
            status: self.status,
            headers: self.headers,
            body: super::protocol::decode_body(&self.body)?,
        })
    }
}

/// A line for the learner's terminal.
#[derive(Debug, Serialize, Deserialize)]
pub struct NoteRequest {
    /// The text.
    pub text: String,
}

/// Close the bridge (only the one opened with `token_id`, if given).
#[derive(Debug, Serialize, Deserialize)]
pub struct CloseRequest {
    /// Why, for the learner's terminal.
    pub reason: String,
    /// The pairing whose bridge to close; any if `None`.
    pub token_id: Option<i64>,
}

/// A learner's bridge held by another server of the portal, used through that server.
#[derive(Debug)]
pub struct RemoteLink {
    peers: Peers,
    learner_id: i64,
    holder: String,
    status: HeldStatus,
    relayed: AtomicU64,
}

impl RemoteLink {
    /// What the bridge reported when it connected.
    pub fn info(&self) -> &LinkInfo {
        &self.status.info
    }

    /// Whether the learner's cluster answered the holder's last request.
    pub fn cluster_answers(&self) -> bool {
        self.status.cluster_answers
    }

    /// Names this connection among every server's: for what is cached per connection.
    pub fn key(&self) -> String {
        format!("{}#{}", self.holder, self.status.serial)
    }

    /// How many requests were relayed through this handle.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }

    fn url(&self, action: &str) -> String {
        format!(
            "{}/api/replicas/bridges/{}/{action}",
            self.holder, self.learner_id
        )
    }

    /// Has the holder relay one request to the learner's cluster.
    pub async fn relay(
        &self,
        context: Option<&str>,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Relayed, LinkError> {
        let unreachable =
            |e: String| LinkError::Closed(format!("the server holding it did not relay: {e}"));
        let request = RelayRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body: super::protocol::encode_body(&body),
            context: context.map(str::to_owned),
        };
        let response = self
            .peers
            .http
            .post(self.url("relay"))
            .bearer_auth(&*self.peers.secret)
            .timeout(self.peers.relay_within)
            .json(&request)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            let reason = response.text().await.unwrap_or_default();
            return Err(LinkError::Closed(clip(&reason)));
        }
        let answer: RelayAnswer = response
            .json()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        self.relayed.fetch_add(1, Ordering::Relaxed);
        answer.into_relayed().map_err(unreachable)
    }

    /// Has the holder open a watch on the learner's cluster: the holder answers with the events
    /// as its body (the cluster's status in [`WATCH_STATUS`]), or with a [`RelayAnswer`] when the
    /// watch did not open. Dropping the events closes the connection, and so the watch.
    pub async fn watch(
        &self,
        context: Option<&str>,
        path: &str,
        headers: Vec<(String, String)>,
    ) -> Result<WatchAnswer, LinkError> {
        let unreachable =
            |e: String| LinkError::Closed(format!("the server holding it did not relay: {e}"));
        let request = RelayRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            headers,
            body: String::new(),
            context: context.map(str::to_owned),
        };
        let sent = self
            .peers
            .http
            .post(self.url("watch"))
            .bearer_auth(&*self.peers.secret)
            .json(&request)
            .send();
        let response = tokio::time::timeout(self.peers.relay_within, sent)
            .await
            .map_err(|_| unreachable("no answer in time".to_owned()))?
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            let reason = response.text().await.unwrap_or_default();
            return Err(LinkError::Closed(clip(&reason)));
        }
        self.relayed.fetch_add(1, Ordering::Relaxed);
        let streamed_status = response
            .headers()
            .get(WATCH_STATUS)
            .and_then(|v| v.to_str().ok()?.parse::<u16>().ok());
        let Some(status) = streamed_status else {
            let answer: RelayAnswer = response
                .json()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            return Ok(WatchAnswer::Whole(
                answer.into_relayed().map_err(unreachable)?,
            ));
        };
        let headers = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| vec![("content-type".to_owned(), v.to_owned())])
            .unwrap_or_default();
        let events = futures::stream::try_unfold(response, |mut response| async move {
            match response.chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, response))),
                Ok(None) => Ok(None),
                Err(e) => Err(LinkError::Closed(format!(
                    "the server holding the bridge broke off the watch: {e}"
                ))),
            }
        });
        Ok(WatchAnswer::Stream {
            status,
            headers,
            events: Box::pin(events),
        })
    }

    /// Has the holder tell the learner's terminal what the portal did.
    pub async fn note(&self, text: String) {
        let _ = self
            .peers
            .http
            .post(self.url("note"))
            .bearer_auth(&*self.peers.secret)
            .timeout(STATUS_WITHIN)
            .json(&NoteRequest { text })
            .send()
            .await;
    }
}

/// The holder's refusal, as a short sentence.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
