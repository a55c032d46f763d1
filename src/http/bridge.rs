//! `lectern connect` on the portal: the Connect page (pairing codes, paired machines), the pairing
//! exchange, the learner's live status, and the WebSocket a bridge runs on.

use super::filters;
use askama::Template;
use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::client_addr::ClientAddr;
use super::session::{AnyAccount, CsrfForm, CsrfOnly};
use super::{Error, Page};
use crate::app::AppState;
use crate::bridge::{self, Incoming, Outgoing, protocol};

/// What a personal-mode server answers: bridges belong to portals.
const PERSONAL_MODE: &str = "this Lectern runs in personal mode, where checks already run on your machine; lectern connect is for portals (lectern serve --portal)";

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage<'a> {
    csrf: &'a str,
    command: Option<String>,
    live: Option<bridge::LinkInfo>,
    pairings: Vec<(i64, String, String, String)>,
    portal: &'a str,
    done: Option<&'a str>,
}

/// The portal's own URL, as the learner reached it (for the command to copy).
fn portal_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{}://{host}",
        if forwarded_https { "https" } else { "http" }
    )
}

async fn connect_page_with(
    app: &AppState,
    account: &AnyAccount,
    headers: &HeaderMap,
    command: Option<String>,
    done: Option<&str>,
) -> Result<Response, Error> {
    let learner_id = account.session.user.learner_id;
    let pairings = bridge::pairings(&app.db, learner_id)
        .await?
        .into_iter()
        .map(|p| {
            let used = p
                .last_used_at
                .map_or_else(|| "never".to_owned(), crate::clock::rfc3339);
            (p.id, p.label, crate::clock::rfc3339(p.expires_at), used)
        })
        .collect();
    let portal = portal_url(headers);
    let page = ConnectPage {
        csrf: &account.session.csrf_token,
        command,
        live: app
            .reach
            .bridges
            .find(learner_id)
            .await
            .map(|l| l.info().clone()),
        pairings,
        portal: &portal,
        done,
    };
    Ok(Page::new(app, "Connect your cluster", &page, Some(&account.visitor)).into_response())
}

/// `GET /connect`: how to connect, what is connected, which machines are paired.
pub(super) async fn connect_page(
    State(app): State<AppState>,
    account: AnyAccount,
    headers: HeaderMap,
) -> Result<Response, Error> {
    connect_page_with(&app, &account, &headers, None, None).await
}

/// `POST /connect/code`: a one-time pairing command for this learner.
pub(super) async fn create_code(
    State(app): State<AppState>,
    account: AnyAccount,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    let code = bridge::create_code(&app.db, account.session.user.learner_id).await?;
    let command = format!("lectern connect {} --code {code}", portal_url(&headers));
    connect_page_with(&app, &account, &headers, Some(command), None).await
}

/// `POST /connect/pairings/{id}/revoke`: forget a paired machine and close its bridge.
pub(super) async fn revoke(
    State(app): State<AppState>,
    account: AnyAccount,
    headers: HeaderMap,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<Response, Error> {
    bridge::revoke(
        &app.db,
        &app.reach.bridges,
        account.session.user.learner_id,
        id,
    )
    .await?;
    connect_page_with(
        &app,
        &account,
        &headers,
        None,
        Some("Revoked: that machine can no longer connect."),
    )
    .await
}

/// Body of `POST /api/bridge/pair`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PairRequest {
    code: String,
    #[serde(default)]
    machine: String,
}

/// `POST /api/bridge/pair`: exchange a pairing code for a bridge token (once).
pub(super) async fn pair(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(request): Json<PairRequest>,
) -> Result<Response, Error> {
    if !app.config.portal {
        return Err(Error::NotFound(PERSONAL_MODE.to_owned()));
    }
    // Codes are short: guessing is throttled per address like passwords are.
    app.quotas
        .pairings
        .take_for_address(client)
        .map_err(|wait| Error::too_many("pairing", wait))?;
    let paired = bridge::pair(&app.db, &request.code, &request.machine).await?;
    Ok((StatusCode::OK, Json(paired)).into_response())
}

/// `GET /api/bridge/status`: the signed-in learner's bridge, for the "Your cluster" panel.
pub(super) async fn status(
    State(app): State<AppState>,
    account: AnyAccount,
    headers: HeaderMap,
) -> Response {
    let learner_id = account.session.user.learner_id;
    let body = match app.reach.bridges.find(learner_id).await {
        Some(link) => serde_json::json!({
            "connected": true,
            "cluster_answers": link.cluster_answers(),
            "link": link.info(),
        }),
        None => {
            let checks_use = crate::labs::cluster_without_bridge(&app.reach, &app.db, learner_id)
                .await
                .map_err(Error::from);
            let checks_use = match checks_use {
                Ok(via) => via,
                Err(e) => return e.into_response(),
            };
            serde_json::json!({
                "connected": false,
                "checks_use": checks_use,
                "command": format!("lectern connect {}", portal_url(&headers)),
            })
        }
    };
    ([(header::CACHE_CONTROL, "private, no-store")], Json(body)).into_response()
}

/// `GET /api/bridge`: the WebSocket a learner's `lectern connect` relays requests on, authenticated
/// by its bridge token (`Authorization: Bearer …`).
pub(super) async fn socket(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Error> {
    if !app.config.portal {
        return Err(Error::NotFound(PERSONAL_MODE.to_owned()));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Error::Unauthorized("send the bridge token as `Authorization: Bearer …`".to_owned())
        })?;
    let (learner, token_id) = bridge::authenticate(&app.db, token).await?;
    Ok(upgrade
        .max_message_size(protocol::MAX_FRAME_BYTES)
        .max_frame_size(protocol::MAX_FRAME_BYTES)
        .read_buffer_size(protocol::BUFFER_BYTES)
        .write_buffer_size(protocol::BUFFER_BYTES)
        .on_upgrade(move |socket| pump(socket, app, learner, token_id, client.to_string()))
        .into_response())
}

/// Moves frames between the WebSocket and the bridge domain until either side ends.
async fn pump(
    socket: WebSocket,
    app: AppState,
    learner: bridge::Learner,
    token_id: i64,
    from: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (incoming_tx, incoming) = mpsc::channel(protocol::MAX_IN_FLIGHT * 2);
    let (outgoing, mut outgoing_rx) = mpsc::channel::<Outgoing>(protocol::MAX_IN_FLIGHT * 2);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing_rx.recv().await {
            let message = match frame {
                Outgoing::Text(text) => Message::Text(text.into()),
                Outgoing::Ping => Message::Ping(Vec::new().into()),
                Outgoing::Close(reason) => {
                    let reason: String = reason.chars().take(120).collect();
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: 1008,
                            reason: reason.into(),
                        })))
                        .await;
                    break;
                }
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let reader = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let frame = match message {
                Ok(Message::Text(text)) => Incoming::Text(text.to_string()),
                Ok(Message::Binary(bytes)) => Incoming::Binary(bytes.len()),
                Ok(Message::Pong(_)) => Incoming::Pong,
                Ok(Message::Ping(_)) => continue,
                Ok(Message::Close(_)) => {
                    Incoming::Closed("closed by the learner's side".to_owned())
                }
                Err(e) => Incoming::Closed(format!("the connection failed: {e}")),
            };
            let last = matches!(frame, Incoming::Closed(_));
            if incoming_tx.send(frame).await.is_err() || last {
                break;
            }
        }
    });
    bridge::link::serve(
        &app.reach.bridges,
        learner,
        token_id,
        from,
        incoming,
        outgoing,
    )
    .await;
    reader.abort();
    let _ = writer.await;
}

/// Another server of this portal, proven by the servers' shared secret; only servers with a
/// `--replica-url` answer these endpoints.
fn peer(app: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let peers = app.reach.bridges.peers().ok_or_else(|| {
        Error::NotFound("this server does not relay for others (no --replica-url)".to_owned())
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if peers.authorizes(authorization) {
        Ok(())
    } else {
        Err(Error::Unauthorized(
            "only the portal's own servers may ask this".to_owned(),
        ))
    }
}

/// `GET /api/replicas/bridges/{learner}`: whether this server holds the learner's bridge.
pub(super) async fn held(
    State(app): State<AppState>,
    Path(learner_id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    peer(&app, &headers)?;
    let held = app.reach.bridges.held(learner_id).ok_or_else(|| {
        Error::NotFound("this server does not hold that learner's bridge".to_owned())
    })?;
    Ok(Json(held).into_response())
}

/// `POST /api/replicas/bridges/{learner}/relay`: one request over the learner's bridge held here.
pub(super) async fn relay_for_peer(
    State(app): State<AppState>,
    Path(learner_id): Path<i64>,
    headers: HeaderMap,
    Json(request): Json<bridge::peers::RelayRequest>,
) -> Result<Response, Error> {
    peer(&app, &headers)?;
    match app.reach.bridges.relay_for_peer(learner_id, request).await {
        Ok(answer) => Ok(Json(answer).into_response()),
        Err(e) => Ok((StatusCode::BAD_GATEWAY, e.to_string()).into_response()),
    }
}

/// `POST /api/replicas/bridges/{learner}/watch`: a watch over the learner's bridge held here; its
/// events are the body, the cluster's status in a header (a watch that did not open is answered as
/// a relayed request).
pub(super) async fn watch_for_peer(
    State(app): State<AppState>,
    Path(learner_id): Path<i64>,
    headers: HeaderMap,
    Json(request): Json<bridge::peers::RelayRequest>,
) -> Result<Response, Error> {
    peer(&app, &headers)?;
    match app.reach.bridges.watch_for_peer(learner_id, request).await {
        Ok(bridge::WatchAnswer::Whole(relayed)) => {
            Ok(Json(bridge::peers::RelayAnswer::from(relayed)).into_response())
        }
        Ok(bridge::WatchAnswer::Stream {
            status,
            headers,
            events,
        }) => {
            let content_type = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map_or("application/json", |(_, value)| value.as_str())
                .to_owned();
            Ok((
                [
                    (header::CONTENT_TYPE, content_type),
                    (
                        header::HeaderName::from_static(bridge::peers::WATCH_STATUS),
                        status.to_string(),
                    ),
                ],
                axum::body::Body::from_stream(events),
            )
                .into_response())
        }
        Err(e) => Ok((StatusCode::BAD_GATEWAY, e.to_string()).into_response()),
    }
}

/// `POST /api/replicas/bridges/{learner}/note`: a line for the learner's terminal.
pub(super) async fn note_for_peer(
    State(app): State<AppState>,
    Path(learner_id): Path<i64>,
    headers: HeaderMap,
    Json(note): Json<bridge::peers::NoteRequest>,
) -> Result<StatusCode, Error> {
    peer(&app, &headers)?;
    app.reach.bridges.note_for_peer(learner_id, note).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/replicas/bridges/{learner}/close`: closes the learner's bridge held here.
pub(super) async fn close_for_peer(
    State(app): State<AppState>,
    Path(learner_id): Path<i64>,
    headers: HeaderMap,
    Json(close): Json<bridge::peers::CloseRequest>,
) -> Result<StatusCode, Error> {
    peer(&app, &headers)?;
    app.reach.bridges.close_for_peer(learner_id, &close);
    Ok(StatusCode::NO_CONTENT)
}
