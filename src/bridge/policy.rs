//! What the learner's side relays: read-only by construction. Enforced by `lectern connect` on the
//! learner's machine, so a compromised or curious portal cannot use a bridge to change a cluster,
//! read Secret data or pod logs, open a shell or reach into the cluster's network.
//!
//! The decision is made on what the API server will act on, never on the text the portal sent. The
//! request is parsed as the API server parses it: the path percent-decoded (Go's `URL.Path`, so
//! `%73ecrets` is `secrets` and `%2F` a separator), split into group, version, namespace, resource,
//! name and subresource as `k8s.io/apiserver`'s `RequestInfoFactory` does (the legacy `/watch/` and
//! `/proxy/` prefixes included), and every query parameter decoded as Go's `url.ParseQuery` reads it
//! (`%77atch=1` is `watch`, and a bare `watch` means `watch=true`). It is allowlist-style: anything
//! the parser does not understand is refused. What the cluster then receives is rebuilt from the
//! parsed form ([`Allowed::path_and_query`]), so no reading of the original text other than ours
//! can reach it, and the response is checked against the same parsed resource.

use std::borrow::Cow;
use std::fmt::Write as _;

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Why the learner's side did not relay a request or its answer; the text goes back to the portal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A write: only reads (and the authorizer's questions) are relayed.
    #[error("{method} {path} would change the cluster; the bridge relays reads only")]
    Write {
        /// The method the portal asked for.
        method: String,
        /// The path as parsed, for the message.
        path: String,
    },
    /// Text the parser does not read the way the API server would, or at all.
    #[error("`{0}` is not a plain API path")]
    NotPlain(String),
    /// A non-API path (`/metrics`, `/logs`, `/`).
    #[error("only API paths are relayed, not `{0}`")]
    NotApi(String),
    /// `log`, `exec`, `attach`, `portforward`, `proxy`, or any subresource not known to be a plain read.
    #[error("the `{0}` subresource is not relayed")]
    Subresource(String),
    /// `?watch` in any spelling in a single request, or the legacy `/watch/` routes: a watch is
    /// relayed only when asked for as one (protocol version 2), and then only in the one spelling.
    #[error("a watch is relayed only as a watch stream, asked for with `watch=true`")]
    Watch,
    /// A watch of something other than a collection of a resource.
    #[error("only collections of resources are watched, not `{0}`")]
    WatchTarget(String),
    /// A query parameter that this kind of request has no use for.
    #[error("the query parameter `{0}` is not relayed")]
    Parameter(String),
    /// A Secret asked for with more than its metadata.
    #[error("Secret data is never relayed; only Secrets' metadata may be read")]
    SecretData,
    /// The cluster answered a Secret read with more than metadata.
    #[error("the cluster answered a Secret read with more than metadata; not relayed")]
    SecretAnswer,
}

/// The `POST`s that only ask the authorizer a question and change nothing (resources of
/// `authorization.k8s.io/v1`, cluster-scoped).
const QUESTIONS: &[&str] = &[
    "subjectaccessreviews",
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
];

/// Subresources that are plain reads of the object they belong to.
const READ_SUBRESOURCES: &[&str] = &["status", "scale"];

/// The annotation `kubectl apply` leaves on an object: for a Secret it holds the Secret's data.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A request the learner's side will relay, as the API server will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    target: Target,
    query: Vec<(String, String)>,
}

/// What a request reaches, in the API server's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `/version`, `/livez`, `/readyz`, `/healthz`.
    Health(String),
    /// `/api`, `/apis`, `/api/v1`, `/apis/GROUP`, `/apis/GROUP/VERSION`.
    Discovery(Vec<String>),
    /// An object or a collection of a resource.
    Resource(Resource),
}

/// The parts of a resource request, as `RequestInfo` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    /// Empty for the core group (`/api`).
    group: String,
    version: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Resource {
    fn is_secret(&self) -> bool {
        self.group.is_empty() && self.resource == "secrets"
    }

    fn segments(&self) -> Vec<&str> {
        let mut segments = if self.group.is_empty() {
            vec!["api", self.version.as_str()]
        } else {
            vec!["apis", self.group.as_str(), self.version.as_str()]
        };
        if let Some(namespace) = &self.namespace {
            segments.extend(["namespaces", namespace.as_str()]);
        }
        segments.push(&self.resource);
        segments.extend(self.name.as_deref());
        segments.extend(self.subresource.as_deref());
        segments
    }
}

impl Allowed {
    /// The request to send to the cluster, rebuilt from what was decided on: every path segment and
    /// query parameter encoded one way, so the API server reads exactly what the policy read.
    pub fn path_and_query(&self) -> String {
        let segments: Vec<&str> = match &self.target {
            Target::Health(endpoint) => vec![endpoint.as_str()],
            Target::Discovery(segments) => segments.iter().map(String::as_str).collect(),
            Target::Resource(resource) => resource.segments(),
        };
        let mut text = String::new();
        for segment in segments {
            text.push('/');
            text.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
        }
        if !self.query.is_empty() {
            text.push('?');
            text.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&self.query)
                    .finish(),
            );
        }
        text
    }

    fn is_secret(&self) -> bool {
        matches!(&self.target, Target::Resource(r) if r.is_secret())
    }
}

/// What a path segment keeps unencoded when rebuilt: unreserved characters and `:` (RBAC names such
/// as `system:node`); everything else, `/` and `%` first, is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Whether the learner's side forwards a request, and if so, the request to forward.
pub fn check_request(
    method: &str,
    path_and_query: &str,
    accept: Option<&str>,
) -> Result<Allowed, Refusal> {
    let (raw_path, raw_query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let segments = decode_path(raw_path)?;
    let shown = format!("/{}", segments.join("/"));
    let target = parse_target(&segments, &shown)?;
    let query = decode_query(raw_query, &shown)?;
    match (method, &target) {
        ("GET", _) => {}
        ("POST", Target::Resource(r)) if is_question(r) => {}
        _ => {
            return Err(Refusal::Write {
                method: method.chars().filter(|c| c.is_ascii_graphic()).collect(),
                path: shown,
            });
        }
    }
    let allowed_keys: &[&str] = match &target {
        Target::Health(endpoint) if endpoint == "version" => &[],
        Target::Health(_) => &["verbose", "exclude"],
        Target::Discovery(_) => &[],
        Target::Resource(r) if method == "POST" || r.name.is_some() => &["resourceVersion"],
        Target::Resource(_) => &[
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "resourceVersionMatch",
        ],
    };
    for (key, _) in &query {
        if matches!(
            key.as_str(),
            "watch" | "allowWatchBookmarks" | "sendInitialEvents"
        ) {
            return Err(Refusal::Watch);
        }
        if !allowed_keys.contains(&key.as_str()) {
            return Err(Refusal::Parameter(printable(key)));
        }
    }
    let numeric = |key: &str| {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .all(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    if !numeric("limit") {
        return Err(Refusal::NotPlain(printable(path_and_query)));
    }
    let allowed = Allowed { target, query };
    if allowed.is_secret() && !accept.is_some_and(accepts_metadata_only) {
        return Err(Refusal::SecretData);
    }
    Ok(allowed)
}

/// The query parameters a watch uses (kube-rs's watcher sends these), besides `watch` itself.
const WATCH_PARAMETERS: &[&str] = &[
    "labelSelector",
    "fieldSelector",
    "resourceVersion",
    "resourceVersionMatch",
    "allowWatchBookmarks",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// Whether the learner's side opens a watch the portal asked for (protocol version 2), and if so,
/// the request to send. A watch is relayed exactly where a read is: the same parser decides, the
/// target must be a collection of a resource (no object, no subresource, no legacy `/watch/`
/// route), the query holds `watch=true` (or `1`) and only the parameters a watch uses, and
/// Secrets are watched as metadata only; each event is then checked by [`check_watch_event`].
pub fn check_watch(path_and_query: &str, accept: Option<&str>) -> Result<Allowed, Refusal> {
    let (raw_path, raw_query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let segments = decode_path(raw_path)?;
    let shown = format!("/{}", segments.join("/"));
    let target = parse_target(&segments, &shown)?;
    match &target {
        Target::Resource(r) if r.name.is_none() && r.subresource.is_none() => {}
        _ => return Err(Refusal::WatchTarget(printable(&shown))),
    }
    let mut query = decode_query(raw_query, &shown)?;
    let not_plain = || Refusal::NotPlain(printable(path_and_query));
    let mut asked = false;
    for (key, value) in &mut query {
        let boolean = value == "true" || value == "false";
        let number = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match key.as_str() {
            "watch" if value == "true" || value == "1" => {
                asked = true;
                "true".clone_into(value);
            }
            "watch" => return Err(not_plain()),
            "allowWatchBookmarks" | "sendInitialEvents" if !boolean => return Err(not_plain()),
            "timeoutSeconds" if !number => return Err(not_plain()),
            key if WATCH_PARAMETERS.contains(&key) => {}
            key => return Err(Refusal::Parameter(printable(key))),
        }
    }
    if !asked {
        return Err(Refusal::Watch);
    }
    let allowed = Allowed { target, query };
    if allowed.is_secret() && !accept.is_some_and(accepts_metadata_only) {
        return Err(Refusal::SecretData);
    }
    Ok(allowed)
}

/// Whether one event of a relayed watch (one JSON line) may go back to the portal, and the line to
/// send: for a Secret watch, an object event must carry metadata only (and loses `kubectl apply`'s
/// copy of the data), a bookmark keeps only its resourceVersion and annotations, an error only its
/// `Status`. Any other watch's events go back as they came.
pub fn check_watch_event<'a>(allowed: &Allowed, line: &'a [u8]) -> Result<Cow<'a, [u8]>, Refusal> {
    if !allowed.is_secret() {
        return Ok(Cow::Borrowed(line));
    }
    let mut event: Value = serde_json::from_slice(line).map_err(|_| Refusal::SecretAnswer)?;
    let kind = event["type"].as_str().map(str::to_owned);
    let object = &mut event["object"];
    match (kind.as_deref(), object["kind"].as_str()) {
        (Some("ADDED" | "MODIFIED" | "DELETED"), Some("PartialObjectMetadata")) => {
            forget_last_applied(object);
        }
        (Some("BOOKMARK"), _) => {
            *object = serde_json::json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {
                    "resourceVersion": object["metadata"]["resourceVersion"].clone(),
                    "annotations": object["metadata"]["annotations"].clone(),
                },
            });
        }
        (Some("ERROR"), Some("Status")) => {}
        _ => return Err(Refusal::SecretAnswer),
    }
    serde_json::to_vec(&event)
        .map(Cow::Owned)
        .map_err(|_| Refusal::SecretAnswer)
}

/// Whether a response to a relayed request may go back to the portal, and the body to send: a
/// Secret read must have come back as metadata only (a server that ignored the `Accept` header
/// would send the data), and loses the annotation in which `kubectl apply` copies a Secret's data.
/// Any other answer goes back as it came, uncopied.
pub fn check_response<'a>(allowed: &Allowed, body: &'a [u8]) -> Result<Cow<'a, [u8]>, Refusal> {
    if !allowed.is_secret() {
        return Ok(Cow::Borrowed(body));
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|_| Refusal::SecretAnswer)?;
    match value["kind"].as_str() {
        Some("Status") => {}
        Some("PartialObjectMetadata") => forget_last_applied(&mut value),
        Some("PartialObjectMetadataList") => {
            if let Some(items) = value["items"].as_array_mut() {
                items.iter_mut().for_each(forget_last_applied);
            }
        }
        _ => return Err(Refusal::SecretAnswer),
    }
    serde_json::to_vec(&value)
        .map(Cow::Owned)
        .map_err(|_| Refusal::SecretAnswer)
}

fn forget_last_applied(object: &mut Value) {
    if let Some(annotations) = object["metadata"]["annotations"].as_object_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

fn is_question(resource: &Resource) -> bool {
    resource.group == "authorization.k8s.io"
        && resource.version == "v1"
        && resource.namespace.is_none()
        && resource.name.is_none()
        && resource.subresource.is_none()
        && QUESTIONS.contains(&resource.resource.as_str())
}

/// The path's segments as the API server sees them: percent-decoded once. Refuses what a plain
/// client never sends and the API server could read differently: an encoded `/` or `%`, empty,
/// `.` or `..` segments, bytes outside printable ASCII.
fn decode_path(raw: &str) -> Result<Vec<String>, Refusal> {
    let not_plain = || Refusal::NotPlain(printable(raw));
    let rest = raw.strip_prefix('/').ok_or_else(not_plain)?;
    if rest.is_empty() {
        return Err(Refusal::NotApi("/".to_owned()));
    }
    rest.split('/')
        .map(|segment| {
            let decoded = decode(segment).ok_or_else(not_plain)?;
            let plain = !decoded.is_empty()
                && decoded != "."
                && decoded != ".."
                && decoded
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"/%?#\\".contains(&b));
            plain.then_some(decoded).ok_or_else(not_plain)
        })
        .collect()
}

/// Percent-decodes as Go does: a `%` not followed by two hex digits is an error.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return None;
        }
    }
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The query as `url.ParseQuery` reads it: `&`-separated, `+` a space, each key and value
/// percent-decoded, a bare key an empty value. A `;`, an undecodable pair, a control character or a
/// key given twice is refused (Go would drop the pair, or read only the first value).
fn decode_query(raw: &str, shown: &str) -> Result<Vec<(String, String)>, Refusal> {
    let not_plain = || Refusal::NotPlain(printable(&format!("{shown}?{raw}")));
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in raw.split('&').filter(|piece| !piece.is_empty()) {
        if piece.contains([';', '#']) {
            return Err(not_plain());
        }
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let unplus = |text: &str| decode(&text.replace('+', " "));
        let (Some(key), Some(value)) = (unplus(key), unplus(value)) else {
            return Err(not_plain());
        };
        if key.is_empty() || key.chars().chain(value.chars()).any(char::is_control) {
            return Err(not_plain());
        }
        if pairs.iter().any(|(seen, _)| *seen == key) {
            return Err(not_plain());
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Reads the decoded segments as `RequestInfoFactory` does: `api/VERSION` or `apis/GROUP/VERSION`,
/// then `namespaces/NS` (unless the namespace itself is the object), then resource, name and
/// subresource. The legacy `watch` and `proxy` verbs in front of the resource are refused.
fn parse_target(segments: &[String], shown: &str) -> Result<Target, Refusal> {
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["version" | "livez" | "readyz" | "healthz"] => {
            return Ok(Target::Health(segments[0].clone()));
        }
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] => {
            let known = parts.iter().skip(1).enumerate().all(|(i, part)| {
                if parts[0] == "apis" && i == 0 {
                    is_group(part)
                } else {
                    is_version(part)
                }
            });
            return if known {
                Ok(Target::Discovery(segments.to_vec()))
            } else {
                Err(Refusal::NotPlain(printable(shown)))
            };
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(Refusal::NotApi(printable(shown))),
    };
    if !(is_version(version) && (group.is_empty() || is_group(group))) {
        return Err(Refusal::NotPlain(printable(shown)));
    }
    let (namespace, rest) = match rest {
        ["watch", ..] => return Err(Refusal::Watch),
        ["proxy", ..] => return Err(Refusal::Subresource("proxy".to_owned())),
        // `namespaces/NS/status` and `/finalize` are the namespace's own subresources.
        ["namespaces", _, "status" | "finalize", ..] => (None, rest),
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub, ..] => {
            if !READ_SUBRESOURCES.contains(sub) {
                return Err(Refusal::Subresource(printable(sub)));
            }
            if rest.len() > 3 {
                return Err(Refusal::NotPlain(printable(shown)));
            }
            (*resource, Some(*name), Some(*sub))
        }
        [] => return Err(Refusal::NotPlain(printable(shown))),
    };
    let plain = namespace.is_none_or(is_label) && is_label(resource) && name.is_none_or(is_name);
    if !plain {
        return Err(Refusal::NotPlain(printable(shown)));
    }
    Ok(Target::Resource(Resource {
        group: group.to_owned(),
        version: version.to_owned(),
        namespace: namespace.map(str::to_owned),
        resource: resource.to_owned(),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
    }))
}

/// `v1`, `v1beta2`, `v2alpha1`.
fn is_version(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (major, stage) = rest.split_at(digits);
    let stage_ok = match stage
        .strip_prefix("alpha")
        .or_else(|| stage.strip_prefix("beta"))
    {
        Some(n) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        None => stage.is_empty(),
    };
    !major.is_empty() && !major.starts_with('0') && stage_ok
}

/// Whether every media range of an `Accept` header asks for `PartialObjectMetadata` (or its list),
/// with nothing the API server would fall back to: no wildcard, no plain type, no other parameter.
fn accepts_metadata_only(accept: &str) -> bool {
    accept.split(',').all(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        let mut parameters: Vec<(&str, &str)> = Vec::new();
        for parameter in parts {
            let Some((key, value)) = parameter.split_once('=') else {
                return false;
            };
            parameters.push((key.trim(), value.trim()));
        }
        parameters.sort_unstable();
        matches!(
            media_type,
            "application/json" | "application/vnd.kubernetes.protobuf"
        ) && matches!(
            parameters.as_slice(),
            [
                ("as", "PartialObjectMetadata" | "PartialObjectMetadataList"),
                ("g", "meta.k8s.io"),
                ("v", "v1")
            ]
        )
    })
}

/// A lower-case DNS label: namespaces and resource plurals.
fn is_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A lower-case DNS subdomain: API groups (`apps`, `rbac.authorization.k8s.io`).
fn is_group(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_label)
}

/// An object's name: what Kubernetes allows in a path segment, kept to printable ASCII.
fn is_name(text: &str) -> bool {
    text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@".contains(&b))
}

/// Text from the portal made safe for a terminal and a message: control characters escaped.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(512) {
        if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}') {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
