//! What every request passes before it is routed: personal mode answers only to local names (a
//! DNS-rebinding page cannot read a learner's answers or run checks), query strings have a length
//! limit, and API answers, private to one person, are never stored by caches. While the server
//! drains before stopping, every response closes its connection.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Error;
use crate::app::AppState;

/// Longest query string accepted: filters are short, and SQLite refuses `LIKE` patterns of 50 KB.
pub(super) const MAX_QUERY_BYTES: usize = 2048;

/// Refuses requests for other host names in personal mode and over-long query strings; marks API
/// answers `private, no-store`.
pub(super) async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_api = path.starts_with("/api/");
    // Probes carry no learner's data, and load balancers and orchestrators send any Host.
    let is_probe = matches!(path, "/healthz" | "/readyz");
    let refused = if !app.config.portal
        && !is_probe
        && !is_local_host(&request, &app.config.allowed_hosts)
    {
        Some("Lectern in personal mode answers only to localhost and IP addresses; start it with --allowed-hosts NAME to use another name.".to_owned())
    } else {
        let length = request.uri().query().map_or(0, str::len);
        (length > MAX_QUERY_BYTES).then(|| {
            format!("The query string is {length} bytes long; Lectern accepts at most {MAX_QUERY_BYTES}.")
        })
    };
    // Refusals are errors like any other: `error::render` writes them by route kind.
    let mut response = match refused {
        Some(message) => Error::BadRequest(message).into_response(),
        None => next.run(request).await,
    };
    if is_api {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("private, no-store"));
    }
    // Shutting down: clients reconnect, and the load balancer sends them to another server.
    if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the `Host` is one a page on the learner's own machine uses: `localhost` (and names under
/// it), any IP address (a rebinding attack needs a name), or a name the operator allowed. A request
/// without `Host` (HTTP/1.0, scripts) comes from no browser and passes.
fn is_local_host(request: &Request, allowed: &[String]) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("").to_ascii_lowercase())
    else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split_once(']')
                .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name),
    };
    let name = name.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
        || allowed
            .iter()
            .any(|a| a.trim().trim_end_matches('.').eq_ignore_ascii_case(name))
}
