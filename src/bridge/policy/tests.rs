use proptest::prelude::*;

use super::*;

const METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

fn relayed(method: &str, path: &str, accept: Option<&str>) -> String {
    check_request(method, path, accept)
        .unwrap_or_else(|e| panic!("{method} {path} refused: {e}"))
        .path_and_query()
}

#[test]
fn reads_and_authorizer_questions_pass_as_the_api_server_reads_them() {
    for (path, sent) in [
        ("/version", "/version"),
        ("/readyz?verbose", "/readyz?verbose="),
        ("/api", "/api"),
        ("/apis", "/apis"),
        ("/apis/apps/v1", "/apis/apps/v1"),
        (
            "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane",
            "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane",
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments/probe",
            "/apis/apps/v1/namespaces/default/deployments/probe",
        ),
        (
            "/api/v1/events?fieldSelector=involvedObject.kind%3DNode",
            "/api/v1/events?fieldSelector=involvedObject.kind%3DNode",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node",
        ),
        ("/api/v1/namespaces/log", "/api/v1/namespaces/log"),
        ("/api/v1/namespaces/x/status", "/api/v1/namespaces/x/status"),
        (
            "/apis/apps/v1/namespaces/x/deployments/y/scale",
            "/apis/apps/v1/namespaces/x/deployments/y/scale",
        ),
        // What the API server decodes, the policy decodes; the cluster gets one spelling.
        ("/api/v1/%6eodes?%6cimit=1", "/api/v1/nodes?limit=1"),
        ("/api/v1/pods?limit=500&", "/api/v1/pods?limit=500"),
    ] {
        assert_eq!(relayed("GET", path, None), sent, "{path}");
    }
    assert_eq!(
        relayed(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews?",
            None
        ),
        "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    );
    for accept in [
        METADATA,
        METADATA_LIST,
        "application/json; as=PartialObjectMetadataList; v=v1; g=meta.k8s.io",
    ] {
        assert_eq!(
            relayed(
                "GET",
                "/api/v1/namespaces/kube-system/secrets/x",
                Some(accept)
            ),
            "/api/v1/namespaces/kube-system/secrets/x"
        );
    }
}

/// Every way the security review of 2026-12-04 reached Secret data, logs, proxies, shells and
/// watches through the old text-matching policy, and more spellings of the same.
pub(crate) const FORBIDDEN: &[(&str, &str)] = &[
    ("GET", "/api/v1/%73ecrets"),
    ("GET", "/api/v1/secret%73"),
    ("GET", "/api/v1/SECRETS"),
    ("GET", "/api/v1/%2573ecrets"),
    ("GET", "/api/v1/namespaces/default/%73ecrets/x"),
    ("GET", "/api/v1/namespaces/default/secrets/x"),
    ("GET", "/api/v1/namespaces%2Fdefault%2Fsecrets"),
    ("GET", "/api/v1/namespaces/default/pods/../../secrets"),
    (
        "GET",
        "/api/v1/namespaces/default/pods/%2e%2e/%2E%2E/secrets",
    ),
    ("GET", "/api/v1/./secrets"),
    ("GET", "/api//v1/secrets"),
    ("GET", "/api/v1/watch/secrets?timeoutSeconds=1"),
    ("GET", "/api/v1/watch/namespaces/default/secrets"),
    ("GET", "/api/v1/%77atch/secrets"),
    ("GET", "/api/v1/pods?watch=yes"),
    ("GET", "/api/v1/pods?watch"),
    ("GET", "/api/v1/pods?watch="),
    ("GET", "/api/v1/pods?watch=True"),
    ("GET", "/api/v1/pods?%77atch=true"),
    ("GET", "/api/v1/pods?limit=1&watch=1"),
    ("GET", "/api/v1/pods?limit=1;watch=1"),
    ("GET", "/api/v1/pods?limit=1&limit=2"),
    ("GET", "/api/v1/namespaces/kube-system/pods/etcd-x/log"),
    ("GET", "/api/v1/namespaces/kube-system/pods/etcd-x/%6cog"),
    ("GET", "/api/v1/namespaces/kube-system/pods/etcd-x/LOG"),
    (
        "GET",
        "/api/v1/namespaces/kube-system/pods/etcd-x/log?follow=true",
    ),
    ("GET", "/api/v1/nodes/kind-control-plane/%70roxy/metrics"),
    ("GET", "/api/v1/nodes/kind-control-plane/proxy/configz"),
    ("GET", "/api/v1/proxy/nodes/kind-control-plane/configz"),
    ("GET", "/api/v1/namespaces/default/services/web:80/proxy/"),
    ("GET", "/api/v1/namespaces/default/pods/x/%65xec?command=sh"),
    ("GET", "/api/v1/namespaces/default/pods/x/%61ttach"),
    ("GET", "/api/v1/namespaces/default/pods/x/%70ortforward"),
    ("POST", "/api/v1/namespaces/default/pods/x/exec?command=sh"),
    (
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/default/token",
    ),
    (
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews/../../../../api/v1/namespaces/default/pods",
    ),
    (
        "POST",
        "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews",
    ),
    ("DELETE", "/api/v1/namespaces/default/pods/x"),
    ("PATCH", "/api/v1/nodes/k8s-ha-worker"),
    ("PUT", "/api/v1/namespaces/default/configmaps/x"),
    ("post", "/apis/authorization.k8s.io/v1/subjectaccessreviews"),
    ("GET", "/metrics"),
    ("GET", "/logs/"),
    ("GET", "/"),
    ("GET", "/api/../etc/passwd"),
    ("GET", "api/v1/nodes"),
    ("GET", "/api/v1/nodes/x%00"),
    ("GET", "/api/v1/nodes/%zz"),
    ("GET", "/api/v1/nodes?limit=%zz"),
    ("GET", "/api/v1/nodes?labelSelector=a%0d%0ab"),
];

#[test]
fn writes_streams_shells_logs_proxies_and_secret_data_are_refused_however_spelt() {
    for (method, path) in FORBIDDEN {
        assert!(
            check_request(method, path, Some("application/json")).is_err(),
            "{method} {path}"
        );
    }
    for (path, accept) in [
        (
            "/api/v1/secrets",
            format!("{METADATA_LIST},application/json"),
        ),
        ("/api/v1/secrets", "*/*".to_owned()),
        ("/api/v1/secrets", format!("{METADATA_LIST};x=1")),
        (
            "/api/v1/secrets",
            "application/json;x=as=PartialObjectMetadata".to_owned(),
        ),
        (
            "/api/v1/secrets",
            "application/json;as=Table;g=meta.k8s.io;v=v1".to_owned(),
        ),
    ] {
        assert_eq!(
            check_request("GET", path, Some(&accept)),
            Err(Refusal::SecretData),
            "{accept}"
        );
    }
}

#[test]
fn refusals_say_what_was_refused() {
    let refused = |method, path| check_request(method, path, None).unwrap_err().to_string();
    assert_eq!(
        refused("DELETE", "/api/v1/namespaces/default/configmaps/coredns"),
        "DELETE /api/v1/namespaces/default/configmaps/coredns would change the cluster; the bridge relays reads only"
    );
    assert_eq!(
        refused("GET", "/api/v1/namespaces/x/pods/y/%6cog"),
        "the `log` subresource is not relayed"
    );
    assert_eq!(
        refused("GET", "/api/v1/nodes/n/proxy/x"),
        "the `proxy` subresource is not relayed"
    );
    assert_eq!(
        refused("GET", "/api/v1/pods?watch"),
        "a watch is relayed only as a watch stream, asked for with `watch=true`"
    );
    assert_eq!(
        refused("GET", "/api/v1/secrets"),
        "Secret data is never relayed; only Secrets' metadata may be read"
    );
    assert_eq!(
        refused("GET", "/api/v1/nodes/x%1b%5d52"),
        "`/api/v1/nodes/x%1b%5d52` is not a plain API path"
    );
    assert_eq!(
        refused("GET", "/api/v1/nodes/x\u{1b}]52;c;"),
        "`/api/v1/nodes/x\\u{1b}]52;c;` is not a plain API path"
    );
}

#[test]
fn a_secret_answered_in_full_is_not_relayed_and_metadata_loses_applied_data() {
    let secret = check_request("GET", "/api/v1/namespaces/x/secrets/y", Some(METADATA)).unwrap();
    let full = br#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#;
    assert_eq!(check_response(&secret, full), Err(Refusal::SecretAnswer));
    assert_eq!(
        check_response(&secret, b"not json"),
        Err(Refusal::SecretAnswer)
    );
    let meta = br#"{"kind":"PartialObjectMetadata","metadata":{"name":"y","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"aHVudGVyMg==\"}}","team":"a"}}}"#;
    let relayed: Value = serde_json::from_slice(&check_response(&secret, meta).unwrap()).unwrap();
    assert_eq!(
        relayed["metadata"]["annotations"],
        serde_json::json!({ "team": "a" })
    );
    let list = check_request("GET", "/api/v1/secrets", Some(METADATA_LIST)).unwrap();
    let items = br#"{"kind":"PartialObjectMetadataList","items":[{"metadata":{"name":"a","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}}}]}"#;
    let relayed = check_response(&list, items).unwrap();
    assert!(
        !String::from_utf8(relayed.into_owned())
            .unwrap()
            .contains("last-applied")
    );
    let nodes = check_request("GET", "/api/v1/nodes", None).unwrap();
    assert_eq!(check_response(&nodes, full).unwrap(), &full[..]);
}

#[test]
fn watches_pass_exactly_where_reads_do_and_reach_the_cluster_in_one_spelling() {
    let watched = |path: &str, accept: Option<&str>| {
        check_watch(path, accept)
            .unwrap_or_else(|e| panic!("watch {path} refused: {e}"))
            .path_and_query()
    };
    assert_eq!(
        watched(
            "/api/v1/nodes?%77atch=1&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=12",
            None
        ),
        "/api/v1/nodes?watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=12"
    );
    assert_eq!(
        watched(
            "/api/v1/namespaces/kube-system/events?fieldSelector=involvedObject.kind%3DNode&watch=true",
            None
        ),
        "/api/v1/namespaces/kube-system/events?fieldSelector=involvedObject.kind%3DNode&watch=true"
    );
    assert_eq!(
        watched("/api/v1/secrets?watch=true", Some(METADATA)),
        "/api/v1/secrets?watch=true"
    );
    for (path, accept, refusal) in [
        (
            "/api/v1/secrets?watch=true",
            Some("application/json"),
            Refusal::SecretData,
        ),
        ("/api/v1/%73ecrets?watch=true", None, Refusal::SecretData),
        (
            "/api/v1/namespaces/x/secrets?watch=1",
            Some("*/*"),
            Refusal::SecretData,
        ),
        ("/api/v1/nodes", None, Refusal::Watch),
        (
            "/api/v1/nodes?watch=yes",
            None,
            Refusal::NotPlain("/api/v1/nodes?watch=yes".into()),
        ),
        (
            "/api/v1/nodes?watch=true&watch=1",
            None,
            Refusal::NotPlain("/api/v1/nodes?watch=true&watch=1".into()),
        ),
        (
            "/api/v1/nodes?watch=true&timeoutSeconds=-1",
            None,
            Refusal::NotPlain("/api/v1/nodes?watch=true&timeoutSeconds=-1".into()),
        ),
        (
            "/api/v1/nodes?watch=true&pretty=true",
            None,
            Refusal::Parameter("pretty".into()),
        ),
        (
            "/api/v1/nodes/kind-control-plane?watch=true",
            None,
            Refusal::WatchTarget("/api/v1/nodes/kind-control-plane".into()),
        ),
        (
            "/api/v1/namespaces/x/pods/y/log?watch=true&follow=true",
            None,
            Refusal::Subresource("log".into()),
        ),
        (
            "/api/v1/namespaces/x/pods/y/status?watch=true",
            None,
            Refusal::WatchTarget("/api/v1/namespaces/x/pods/y/status".into()),
        ),
        ("/api/v1/watch/secrets", Some(METADATA), Refusal::Watch),
        (
            "/api/v1/watch/namespaces/x/pods?watch=true",
            None,
            Refusal::Watch,
        ),
        (
            "/version?watch=true",
            None,
            Refusal::WatchTarget("/version".into()),
        ),
        (
            "/api/v1?watch=true",
            None,
            Refusal::WatchTarget("/api/v1".into()),
        ),
    ] {
        assert_eq!(check_watch(path, accept), Err(refusal), "{path}");
    }
}

#[test]
fn a_secret_watch_relays_metadata_events_only() {
    let secrets = check_watch("/api/v1/secrets?watch=true", Some(METADATA)).unwrap();
    let relayed = |line: &[u8]| -> Result<Value, Refusal> {
        check_watch_event(&secrets, line).map(|line| serde_json::from_slice(&line).unwrap())
    };
    let added = br#"{"type":"ADDED","object":{"kind":"PartialObjectMetadata","metadata":{"name":"a","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{}}","team":"a"}}}}"#;
    assert_eq!(
        relayed(added).unwrap()["object"]["metadata"]["annotations"],
        serde_json::json!({ "team": "a" })
    );
    let full = br#"{"type":"MODIFIED","object":{"kind":"Secret","metadata":{"name":"a"},"data":{"password":"aHVudGVyMg=="}}}"#;
    assert_eq!(relayed(full), Err(Refusal::SecretAnswer));
    let bookmark = br#"{"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"42"},"data":{"password":"aHVudGVyMg=="}}}"#;
    let kept = relayed(bookmark).unwrap();
    assert_eq!(kept["object"]["metadata"]["resourceVersion"], "42");
    assert!(!kept.to_string().contains("aHVudGVyMg"), "{kept}");
    let error = br#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#;
    assert_eq!(relayed(error).unwrap()["object"]["code"], 410);
    assert_eq!(
        relayed(b"{\"type\":\"SURPRISE\"}"),
        Err(Refusal::SecretAnswer)
    );
    assert_eq!(relayed(b"not json"), Err(Refusal::SecretAnswer));
    let nodes = check_watch("/api/v1/nodes?watch=true", None).unwrap();
    assert_eq!(check_watch_event(&nodes, full).unwrap(), &full[..]);
}

#[test]
fn printable_escapes_what_a_terminal_would_obey() {
    assert_eq!(printable("ada"), "ada");
    assert_eq!(
        printable("ada\u{1b}]52;c;cm0gLXJmIH4=\u{7}\r\n\u{202e}"),
        "ada\\u{1b}]52;c;cm0gLXJmIH4=\\u{7}\\u{d}\\u{a}\\u{202e}"
    );
}

/// What [`spelt`] never encodes: separators, and `%` (encoding it would change the meaning).
const KEPT: &[u8] = b"/?&=;%";

/// A spelling of `text` that a URL decoder reads as `text`: each byte percent-encoded or not, with
/// upper- or lower-case hex digits, as `mask` picks.
fn spelt(text: &str, mask: &[u8]) -> String {
    text.bytes()
        .enumerate()
        .map(
            |(i, b)| match mask.get(i % mask.len().max(1)).copied().unwrap_or(0) % 3 {
                0 if !KEPT.contains(&b) => format!("%{b:02X}"),
                1 if !KEPT.contains(&b) => format!("%{b:02x}"),
                _ => (b as char).to_string(),
            },
        )
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text: no panic; whatever passes is a fixed point (the rebuilt request passes as itself),
    /// and is never a Secret read without the metadata-only `Accept`.
    #[test]
    fn whatever_passes_is_what_the_cluster_gets(
        method in prop::sample::select(vec!["GET", "POST", "DELETE"]),
        path in "(/[a-z0-9%.:?&=;+A-Z-]{0,12}){0,7}",
        accept in prop::option::of(prop::sample::select(vec![METADATA, "application/json", "*/*"])),
    ) {
        if let Ok(allowed) = check_request(method, &path, accept) {
            let rebuilt = allowed.path_and_query();
            prop_assert_eq!(check_request(method, &rebuilt, accept), Ok(allowed.clone()));
            if let Target::Resource(resource) = &allowed.target {
                prop_assert!(resource.subresource.as_deref().is_none_or(|s| READ_SUBRESOURCES.contains(&s)));
                if resource.is_secret() {
                    prop_assert_eq!(accept, Some(METADATA));
                }
            }
            prop_assert!(allowed.query.iter().all(|(key, _)| key != "watch"));
            prop_assert!(method == "GET" || rebuilt.starts_with("/apis/authorization.k8s.io/v1/s"));
        }
    }

    /// Any text asked as a watch: no panic; whatever passes is a fixed point, a collection, and
    /// never a Secret watch without the metadata-only `Accept`.
    #[test]
    fn whatever_is_watched_is_what_the_cluster_gets(
        path in "(/[a-z0-9%.:?&=;+A-Z-]{0,12}){0,6}(\\?watch=true)?",
        accept in prop::option::of(prop::sample::select(vec![METADATA, "application/json", "*/*"])),
    ) {
        if let Ok(allowed) = check_watch(&path, accept) {
            let rebuilt = allowed.path_and_query();
            prop_assert_eq!(check_watch(&rebuilt, accept), Ok(allowed.clone()));
            let Target::Resource(resource) = &allowed.target else {
                return Err(TestCaseError::fail("watched something other than a resource"));
            };
            prop_assert!(resource.name.is_none() && resource.subresource.is_none());
            if resource.is_secret() {
                prop_assert_eq!(accept, Some(METADATA));
            }
        }
    }

    /// Every forbidden request stays refused however its letters are percent-encoded.
    #[test]
    fn forbidden_requests_are_refused_in_any_spelling(
        index in 0..FORBIDDEN.len(),
        mask in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let (method, path) = FORBIDDEN[index];
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let mut variant = spelt(path, &mask);
        if let Some(query) = query {
            variant.push('?');
            variant.push_str(&spelt(query, &mask));
        }
        prop_assert!(check_request(method, &variant, Some("application/json")).is_err(), "{} {}", method, variant);
    }

    /// A plain read in any spelling passes, and reaches the cluster in one spelling.
    #[test]
    fn plain_reads_pass_in_any_spelling(
        path in prop::sample::select(vec![
            "/api/v1/namespaces/kube-system/pods/etcd-kind-control-plane",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:cluster-admins",
            "/api/v1/nodes?labelSelector=node-role.kubernetes.io/control-plane",
        ]),
        mask in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let (plain, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let mut variant = spelt(plain, &mask);
        if let Some(query) = query {
            variant.push('?');
            variant.push_str(&spelt(query, &mask));
        }
        let canonical = check_request("GET", path, None).unwrap().path_and_query();
        prop_assert_eq!(check_request("GET", &variant, None).map(|a| a.path_and_query()), Ok(canonical));
    }
}
