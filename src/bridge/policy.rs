//! What the learner's side relays: read-only by construction. Enforced by `lectern connect` on the
//! learner's machine, so a compromised or curious portal cannot use a bridge to change a cluster or
//! read Secret data.

/// The `POST`s that only ask the authorizer a question and change nothing.
const QUESTIONS: &[&str] = &[
    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
];

/// Subresources that stream, open a shell or reach into the cluster's network.
const REFUSED_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "proxy", "log"];

/// Whether the learner's side forwards a request: `Err` says why not, for the portal's message.
pub fn check_request(
    method: &str,
    path_and_query: &str,
    accept: Option<&str>,
) -> Result<(), String> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if path.contains("..") || path.contains("//") || !path.starts_with('/') {
        return Err(format!("`{path}` is not a plain API path"));
    }
    let api = path == "/api"
        || path == "/apis"
        || path.starts_with("/api/")
        || path.starts_with("/apis/");
    let health = matches!(path, "/version" | "/livez" | "/readyz" | "/healthz");
    match method {
        "GET" if api || health => {}
        "POST" if QUESTIONS.contains(&path) => return Ok(()),
        "GET" => return Err(format!("only API paths are relayed, not `{path}`")),
        other => {
            return Err(format!(
                "{other} {path} would change the cluster; the bridge relays reads only"
            ));
        }
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let Some(sub) = segments.iter().find(|s| REFUSED_SUBRESOURCES.contains(s)) {
        // `log`, `exec`, … only appear as subresources (a namespace named `log` would be at an
        // even index after `namespaces`, which is rare enough to refuse too).
        return Err(format!("the `{sub}` subresource is not relayed"));
    }
    if query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1" || pair.starts_with("follow="))
    {
        return Err("watches are not relayed (protocol version 1)".to_owned());
    }
    if is_secret_path(&segments) {
        let metadata_only = accept.is_some_and(|accept| {
            accept
                .split(',')
                .all(|kind| kind.contains("as=PartialObjectMetadata"))
        });
        if !metadata_only {
            return Err(
                "Secret data is never relayed; only Secrets' metadata may be read".to_owned(),
            );
        }
    }
    Ok(())
}

/// Whether a response to a relayed request may go back to the portal: a Secret read must have
/// come back as metadata only (a server that ignored the `Accept` header would send the data).
pub fn check_response(path_and_query: &str, body: &[u8]) -> Result<(), String> {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if !is_secret_path(&segments) {
        return Ok(());
    }
    let kind = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if matches!(
        kind.as_str(),
        "PartialObjectMetadata" | "PartialObjectMetadataList" | "Status"
    ) {
        Ok(())
    } else {
        Err("the cluster answered a Secret read with more than metadata; not relayed".to_owned())
    }
}

/// `/api/v1/secrets`, `/api/v1/namespaces/NS/secrets`, `/api/v1/namespaces/NS/secrets/NAME`.
fn is_secret_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["api", _, "secrets", ..] | ["api", _, "namespaces", _, "secrets", ..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_authorizer_questions_pass() {
        for path in [
            "/version",
            "/readyz?verbose",
            "/api",
            "/apis",
            "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane",
            "/apis/apps/v1/namespaces/default/deployments/probe",
            "/api/v1/events?fieldSelector=involvedObject.kind%3DNode",
        ] {
            assert_eq!(check_request("GET", path, None), Ok(()), "{path}");
        }
        assert_eq!(
            check_request(
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                None
            ),
            Ok(())
        );
        assert_eq!(
            check_request(
                "GET",
                "/api/v1/namespaces/kube-system/secrets/x",
                Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
            ),
            Ok(())
        );
    }

    #[test]
    fn writes_streams_shells_and_secret_data_are_refused() {
        for (method, path) in [
            ("DELETE", "/api/v1/namespaces/default/pods/x"),
            ("PATCH", "/api/v1/nodes/k8s-ha-worker"),
            ("PUT", "/api/v1/namespaces/default/configmaps/x"),
            ("POST", "/api/v1/namespaces/default/pods"),
            ("POST", "/api/v1/namespaces/default/pods/x/exec?command=sh"),
            ("GET", "/api/v1/namespaces/default/pods/x/exec?command=sh"),
            ("GET", "/api/v1/namespaces/default/pods/x/log?follow=true"),
            ("GET", "/api/v1/namespaces/default/services/x/proxy/"),
            ("GET", "/api/v1/pods?watch=true"),
            ("GET", "/api/v1/namespaces/kube-system/secrets/x"),
            ("GET", "/api/v1/secrets"),
            ("GET", "/metrics"),
            ("GET", "/api/../etc/passwd"),
        ] {
            assert!(
                check_request(method, path, Some("application/json")).is_err(),
                "{method} {path}"
            );
        }
        assert!(
            check_request(
                "GET",
                "/api/v1/secrets",
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")
            )
            .is_err(),
            "no full-object fallback"
        );
    }

    #[test]
    fn a_secret_answered_in_full_is_not_relayed() {
        let full = br#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#;
        assert!(check_response("/api/v1/namespaces/x/secrets/y", full).is_err());
        let meta = br#"{"kind":"PartialObjectMetadata","metadata":{"name":"y"}}"#;
        assert!(check_response("/api/v1/namespaces/x/secrets/y", meta).is_ok());
        assert!(check_response("/api/v1/nodes", full).is_ok());
    }
}
