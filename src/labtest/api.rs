//! A Kubernetes API server's answers, computed from a set of objects: what `lectern lab test`
//! serves its recorded states with, and what the test suite's API double answers (it adds TLS,
//! watches and failure modes around it), so both read requests as the API server does.
//!
//! Paths are decoded as Go's `net/http` and the API server's `RequestInfoFactory` decode them;
//! lists honour label and field selectors; Secrets may be read as metadata only
//! (`PartialObjectMetadata`); errors are `Status` objects with the API server's wording; a
//! SubjectAccessReview is decided from the RBAC objects as the RBAC authorizer decides it.

use std::collections::HashMap;

use serde_json::{Value, json};

/// One kind the answerer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The version, e.g. `v1`.
    pub version: &'static str,
    /// The plural name in paths, e.g. `rolebindings`.
    pub plural: &'static str,
    /// The kind, e.g. `RoleBinding`.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

const fn resource(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version: "v1",
        plural,
        kind,
        namespaced,
    }
}

/// The kinds served: those lab checks read in kind clusters, and the reviews they ask.
pub const RESOURCES: &[Resource] = &[
    resource("", "namespaces", "Namespace", false),
    resource("", "nodes", "Node", false),
    resource("", "pods", "Pod", true),
    resource("", "services", "Service", true),
    resource("", "serviceaccounts", "ServiceAccount", true),
    resource("", "secrets", "Secret", true),
    resource("", "configmaps", "ConfigMap", true),
    resource("", "events", "Event", true),
    resource("", "persistentvolumes", "PersistentVolume", false),
    resource("", "persistentvolumeclaims", "PersistentVolumeClaim", true),
    resource("apps", "deployments", "Deployment", true),
    resource("apps", "daemonsets", "DaemonSet", true),
    resource("apps", "statefulsets", "StatefulSet", true),
    resource("apps", "replicasets", "ReplicaSet", true),
    resource("batch", "jobs", "Job", true),
    resource("batch", "cronjobs", "CronJob", true),
    resource(
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
        true,
    ),
    resource("networking.k8s.io", "ingresses", "Ingress", true),
    resource(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    resource(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
    resource("rbac.authorization.k8s.io", "roles", "Role", true),
    resource(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        true,
    ),
    resource("coordination.k8s.io", "leases", "Lease", true),
    resource("storage.k8s.io", "storageclasses", "StorageClass", false),
    resource(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        false,
    ),
    resource(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        false,
    ),
    resource("apiregistration.k8s.io", "apiservices", "APIService", false),
    resource(
        "authorization.k8s.io",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    resource(
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ),
];

impl Resource {
    /// `v1` or `group/v1`, as objects carry it in `apiVersion`.
    pub fn api_version(&self) -> String {
        group_version(self.group, self.version)
    }

    /// The served kind with this apiVersion and kind, if any.
    pub fn of(api_version: &str, kind: &str) -> Option<&'static Resource> {
        RESOURCES
            .iter()
            .find(|r| r.kind == kind && r.api_version() == api_version)
    }
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// An answer: status code, content type and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// `application/json` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Answer {
    fn json(value: Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: value.to_string(),
        }
    }

    fn text(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    /// A `Status` object, as the API server reports a failure.
    pub fn status(code: u16, reason: &str, message: String, details: Value) -> Self {
        let body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code,
        });
        Self {
            status: code,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// The API server's 404 for a path it does not serve.
    pub fn not_found_path() -> Self {
        Self::status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({ "causes": [ { "reason": "UnexpectedServerResponse", "message": "404 page not found" } ] }),
        )
    }
}

/// A request, decoded as the API server decodes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/livez` or `/readyz` (`endpoint` without the slash).
    Health {
        /// `livez` or `readyz`.
        endpoint: String,
        /// Whether each check is listed (`?verbose`).
        verbose: bool,
    },
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/api/v1` or `/apis/GROUP/VERSION`: the kinds a group version serves.
    Discovery {
        /// The group.
        group: String,
        /// The version.
        version: String,
    },
    /// A resource or an object of it.
    Object(ObjectRoute),
}

/// A request for objects of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRoute {
    /// The kind.
    pub resource: &'static Resource,
    /// The namespace in the path.
    pub namespace: Option<String>,
    /// The object's name, for a get.
    pub name: Option<String>,
    /// A subresource (`log`, `proxy`, `status`).
    pub subresource: Option<String>,
    /// Whether it is a watch (`?watch=true` or the legacy `/watch/` prefix).
    pub watch: bool,
    /// The query, first value of each key (`url.ParseQuery`).
    pub query: HashMap<String, String>,
}

impl ObjectRoute {
    /// The RBAC verb the request needs.
    pub fn verb(&self, method: &http::Method) -> &'static str {
        match (method, &self.name) {
            (&http::Method::POST, _) => "create",
            _ if self.watch => "watch",
            (_, Some(_)) => "get",
            (_, None) => "list",
        }
    }

    /// Whether `object` is one this request selects: kind, namespace, selectors and (for a
    /// watch of one object) its name.
    pub fn selects(&self, object: &Value) -> bool {
        let r = self.resource;
        let labels = self.query.get("labelSelector").map_or("", String::as_str);
        let fields = self.query.get("fieldSelector").map_or("", String::as_str);
        object["apiVersion"] == r.api_version().as_str()
            && object["kind"] == r.kind
            && (!r.namespaced
                || self
                    .namespace
                    .as_ref()
                    .is_none_or(|ns| object["metadata"]["namespace"] == ns.as_str()))
            && label_selector_matches(labels, &object["metadata"]["labels"])
            && field_selector_matches(fields, object)
            && (!self.watch
                || self
                    .name
                    .as_ref()
                    .is_none_or(|name| object["metadata"]["name"] == name.as_str()))
    }
}

/// Decodes a path and query as the API server does: Go's `URL.Path` (percent-decoded once; an
/// invalid escape is a 400 before any handler), then `RequestInfoFactory` (the legacy `watch`
/// verb, the namespace, resource, name and subresource). An unknown path is its 404.
pub fn route(raw_path: &str, raw_query: Option<&str>) -> Result<Route, Answer> {
    let bad = || Answer::text(400, "400 Bad Request".into());
    if raw_path
        .split('%')
        .skip(1)
        .any(|rest| rest.len() < 2 || !rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    {
        return Err(bad());
    }
    let Ok(decoded) = percent_encoding::percent_decode_str(raw_path).decode_utf8() else {
        return Err(bad());
    };
    let path = decoded.as_ref();
    let mut query: HashMap<String, String> = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        query.entry(key.into_owned()).or_insert(value.into_owned());
    }
    match path {
        "/version" => return Ok(Route::Version),
        "/livez" | "/readyz" => {
            return Ok(Route::Health {
                endpoint: path[1..].to_owned(),
                verbose: query.contains_key("verbose"),
            });
        }
        "/api" => return Ok(Route::CoreVersions),
        "/apis" => return Ok(Route::Groups),
        _ => {}
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(Answer::not_found_path());
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(Answer::not_found_path()),
    };
    if !RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
    {
        return Err(Answer::not_found_path());
    }
    if rest.is_empty() {
        return Ok(Route::Discovery {
            group: group.to_owned(),
            version: version.to_owned(),
        });
    }
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] if !rest.is_empty() => (true, rest),
        _ => (false, rest),
    };
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", name, sub @ ("status" | "finalize")] => {
            (None, "namespaces", Some(*name), Some(*sub))
        }
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub, ..] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        ["namespaces", name] => (None, "namespaces", Some(*name), None),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub, ..] => (None, *plural, Some(*name), Some(*sub)),
        _ => return Err(Answer::not_found_path()),
    };
    let Some(resource) = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
    else {
        return Err(Answer::not_found_path());
    };
    // `ListOptions.watch` is a bool decoded from text: anything but `0` or `false` is true.
    let watch = legacy_watch
        || query
            .get("watch")
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
    Ok(Route::Object(ObjectRoute {
        resource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
        watch,
        query,
    }))
}

/// What an API server holds, as the answerer reads it.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// Every object, with `apiVersion` and `kind`.
    pub objects: &'a [Value],
    /// `/livez`'s individual checks, in order, and whether each passes.
    pub livez: &'a [(String, bool)],
    /// `/readyz`'s.
    pub readyz: &'a [(String, bool)],
    /// `/version`'s answer.
    pub version: &'a Value,
    /// The revision lists report as their resourceVersion.
    pub revision: u64,
    /// Whom the caller's credentials authenticate as (`None`: an admin, group system:masters),
    /// for a SelfSubjectRulesReview.
    pub identity: Option<&'a str>,
}

/// Answers a request that is not a watch (a watch is answered as a bad request: a recorded
/// state has no history). `metadata_only`: the client asked for `PartialObjectMetadata`.
pub fn answer(
    served: &Served<'_>,
    method: &http::Method,
    route: &Route,
    metadata_only: bool,
    body: &[u8],
) -> Answer {
    let object_route = match route {
        Route::Version => return Answer::json(served.version.clone()),
        Route::Health { endpoint, verbose } => {
            let checks = if endpoint == "livez" {
                served.livez
            } else {
                served.readyz
            };
            return health(endpoint, checks, *verbose);
        }
        Route::CoreVersions => {
            return Answer::json(
                json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [ { "clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.4:6443" } ] }),
            );
        }
        Route::Groups => {
            let mut groups: Vec<&str> = RESOURCES
                .iter()
                .map(|r| r.group)
                .filter(|g| !g.is_empty())
                .collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|g| json!({ "name": g, "versions": [ { "groupVersion": format!("{g}/v1"), "version": "v1" } ], "preferredVersion": { "groupVersion": format!("{g}/v1"), "version": "v1" } }))
                .collect();
            return Answer::json(
                json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups }),
            );
        }
        Route::Discovery { group, version } => {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == version)
                .map(|r| json!({ "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced, "kind": r.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"] }))
                .collect();
            return Answer::json(
                json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources }),
            );
        }
        Route::Object(object_route) => object_route,
    };
    let ObjectRoute {
        resource,
        name,
        subresource,
        ..
    } = object_route;
    let (kind, plural) = (resource.kind, resource.plural);
    if *method == http::Method::POST {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return match kind {
            "SubjectAccessReview" => Answer::json(review(served.objects, request)),
            "SelfSubjectRulesReview" => {
                let rules = match served.identity {
                    None => vec![json!({ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] })],
                    Some(user) => rules_for(
                        served.objects,
                        user,
                        &identity_groups(user),
                        request["spec"]["namespace"].as_str(),
                    ),
                };
                Answer::json(
                    json!({ "kind": kind, "apiVersion": resource.api_version(), "spec": request["spec"], "status": { "resourceRules": rules, "nonResourceRules": [], "incomplete": false } }),
                )
            }
            _ => Answer::status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".into(),
                json!({}),
            ),
        };
    }
    if object_route.watch {
        return Answer::status(
            400,
            "BadRequest",
            "a recorded state cannot be watched".into(),
            json!({}),
        );
    }
    if let (Some(sub), Some(name)) = (subresource, name) {
        return match (plural, sub.as_str()) {
            // Streaming subresources need a connection upgrade (SPDY or WebSocket).
            (_, "exec" | "attach" | "portforward") => Answer::status(
                400,
                "BadRequest",
                "Upgrade request required".into(),
                json!({}),
            ),
            ("pods", "log") => {
                Answer::text(200, format!("2026-12-04T09:00:00Z I1204 {name} started\n"))
            }
            ("nodes" | "services" | "pods", "proxy") => {
                Answer::text(200, format!("proxied to {name}\n"))
            }
            _ => Answer::not_found_path(),
        };
    }
    let metadata = |o: &Value| json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] });
    match name {
        Some(name) => match served
            .objects
            .iter()
            .filter(|o| object_route.selects(o))
            .find(|o| o["metadata"]["name"] == name.as_str())
        {
            Some(object) if metadata_only => Answer::json(metadata(object)),
            Some(object) => Answer::json(object.clone()),
            None => Answer::status(
                404,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
                json!({ "name": name, "kind": plural }),
            ),
        },
        None => {
            let items: Vec<Value> = served
                .objects
                .iter()
                .filter(|o| object_route.selects(o))
                .map(|o| {
                    if metadata_only {
                        metadata(o)
                    } else {
                        let mut item = o.clone();
                        if let Some(fields) = item.as_object_mut() {
                            fields.remove("apiVersion");
                            fields.remove("kind");
                        }
                        item
                    }
                })
                .collect();
            let list_meta = json!({ "resourceVersion": served.revision.to_string() });
            if metadata_only {
                Answer::json(
                    json!({ "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": items }),
                )
            } else {
                Answer::json(
                    json!({ "kind": format!("{kind}List"), "apiVersion": resource.api_version(), "metadata": list_meta, "items": items }),
                )
            }
        }
    }
}

/// `/livez` or `/readyz`: with `?verbose` (or when a check fails) each check on its line, then the
/// verdict; 500 when one fails.
fn health(endpoint: &str, checks: &[(String, bool)], verbose: bool) -> Answer {
    let healthy = checks.iter().all(|(_, ok)| *ok);
    let mut text = String::new();
    if verbose || !healthy {
        for (check, ok) in checks {
            text.push_str(&if *ok {
                format!("[+]{check} ok\n")
            } else {
                format!("[-]{check} failed: reason withheld\n")
            });
        }
    }
    text.push_str(&if healthy {
        format!("{endpoint} check passed\n")
    } else {
        format!("{endpoint} check failed\n")
    });
    Answer::text(if healthy { 200 } else { 500 }, text)
}

/// Kubernetes label selector semantics: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
pub fn label_selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let terms = crate::content::split_selector_terms(selector);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let set = |rest: &str| -> Vec<String> {
                rest.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .collect()
            };
            if let Some((k, rest)) = term.split_once(" notin ") {
                !label(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v))
            } else if let Some((k, rest)) = term.split_once(" in ") {
                label(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v))
            } else if let Some((k, v)) = term.split_once("!=") {
                label(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                label(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                label(k.trim()).is_none()
            } else {
                label(term).is_some()
            }
        })
}

/// Field selector semantics: `path=value`, `path==value`, `path!=value`, joined by commas.
pub fn field_selector_matches(selector: &str, object: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let (path, expected, negate) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, true)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, false)
            } else {
                return false;
            };
            let value = path.split('.').fold(object, |v, key| &v[key]);
            let actual = value.as_str().unwrap_or("");
            (actual == expected) != negate
        })
}

/// The groups the API server adds to an authenticated user (service accounts get theirs).
pub fn identity_groups(user: &str) -> Vec<String> {
    let mut groups = vec!["system:authenticated".to_owned()];
    if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
        let ns = rest.split(':').next().unwrap_or("");
        groups.push("system:serviceaccounts".to_owned());
        groups.push(format!("system:serviceaccounts:{ns}"));
    }
    groups
}

/// The bindings that apply to a user in a namespace (all ClusterRoleBindings, the namespace's
/// RoleBindings), with the subject that matched and the role they grant.
fn applicable<'a>(
    objects: &'a [Value],
    user: &str,
    groups: &[String],
    namespace: Option<&str>,
) -> Vec<(&'a Value, &'a Value, &'a Value)> {
    let find = |kind: &str, name: &str, ns: Option<&str>| {
        objects.iter().find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && (ns.is_none() || o["metadata"]["namespace"] == ns.unwrap_or_default())
        })
    };
    let mut found = Vec::new();
    for binding in objects.iter().filter(|o| {
        o["kind"] == "ClusterRoleBinding"
            || (o["kind"] == "RoleBinding"
                && namespace.is_some()
                && o["metadata"]["namespace"] == namespace.unwrap_or_default())
    }) {
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let subject =
            binding["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| match s["kind"].as_str() {
                    Some("ServiceAccount") => {
                        user == format!(
                            "system:serviceaccount:{}:{}",
                            s["namespace"].as_str().or(binding_ns).unwrap_or(""),
                            s["name"].as_str().unwrap_or("")
                        )
                    }
                    Some("User") => s["name"] == user,
                    Some("Group") => groups.iter().any(|g| s["name"] == g.as_str()),
                    _ => false,
                });
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        let role = if binding["roleRef"]["kind"] == "ClusterRole" {
            find("ClusterRole", role_name, None)
        } else {
            find("Role", role_name, binding_ns)
        };
        if let (Some(subject), Some(role)) = (subject, role) {
            found.push((binding, subject, role));
        }
    }
    found
}

/// The RBAC authorizer's decision: the reason it gives when allowed, `None` when nothing grants it.
pub fn decide(
    objects: &[Value],
    user: &str,
    groups: &[String],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Option<String> {
    let has = |list: &Value, wanted: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| v == wanted || v == "*"))
    };
    for (binding, subject, role) in applicable(objects, user, groups, namespace) {
        let grants = role["rules"].as_array().into_iter().flatten().any(|rule| {
            has(&rule["apiGroups"], group)
                && has(&rule["resources"], resource)
                && has(&rule["verbs"], verb)
        });
        if !grants {
            continue;
        }
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let binding_name = match (binding["kind"].as_str(), binding_ns) {
            (Some("RoleBinding"), Some(ns)) => format!(
                "RoleBinding \"{}/{ns}\"",
                binding["metadata"]["name"].as_str().unwrap_or("")
            ),
            _ => format!(
                "ClusterRoleBinding \"{}\"",
                binding["metadata"]["name"].as_str().unwrap_or("")
            ),
        };
        let subject_text = match subject["kind"].as_str() {
            Some("ServiceAccount") => format!(
                "ServiceAccount \"{}/{}\"",
                subject["name"].as_str().unwrap_or(""),
                subject["namespace"].as_str().or(binding_ns).unwrap_or("")
            ),
            Some(kind) => format!("{kind} \"{}\"", subject["name"].as_str().unwrap_or("")),
            None => String::new(),
        };
        return Some(format!(
            "RBAC: allowed by {binding_name} of {} \"{}\" to {subject_text}",
            binding["roleRef"]["kind"].as_str().unwrap_or(""),
            binding["roleRef"]["name"].as_str().unwrap_or("")
        ));
    }
    None
}

/// The RBAC authorizer's decision on a non-resource URL (`/metrics`, `/healthz`): rules list
/// `nonResourceURLs`, where a trailing `*` matches any suffix.
fn decide_non_resource(
    objects: &[Value],
    user: &str,
    groups: &[String],
    verb: &str,
    path: &str,
) -> Option<String> {
    let url_matches = |pattern: &str| match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    };
    // Non-resource URLs are cluster-scoped: only ClusterRoleBindings grant them.
    for (binding, _, role) in applicable(objects, user, groups, None)
        .into_iter()
        .filter(|(b, _, _)| b["kind"] == "ClusterRoleBinding")
    {
        let grants = role["rules"].as_array().into_iter().flatten().any(|rule| {
            rule["nonResourceURLs"]
                .as_array()
                .is_some_and(|urls| urls.iter().filter_map(Value::as_str).any(url_matches))
                && rule["verbs"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().any(|v| v == verb || v == "*"))
        });
        if grants {
            return Some(format!(
                "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {}",
                binding["metadata"]["name"].as_str().unwrap_or(""),
                binding["roleRef"]["name"].as_str().unwrap_or(""),
                user
            ));
        }
    }
    None
}

/// What a SelfSubjectRulesReview reports: every resource rule granted to the user in the namespace.
fn rules_for(
    objects: &[Value],
    user: &str,
    groups: &[String],
    namespace: Option<&str>,
) -> Vec<Value> {
    applicable(objects, user, groups, namespace)
        .into_iter()
        .flat_map(|(_, _, role)| role["rules"].as_array().cloned().unwrap_or_default())
        .filter(|rule| rule.get("resources").is_some())
        .collect()
}

/// Decides a SubjectAccessReview from the RBAC objects, as the RBAC authorizer would, with its wording.
fn review(objects: &[Value], request: Value) -> Value {
    let spec = &request["spec"];
    let user = spec["user"].as_str().unwrap_or("");
    let groups: Vec<String> = spec["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let decision = match spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
        Some(non_resource) => decide_non_resource(
            objects,
            user,
            &groups,
            non_resource["verb"].as_str().unwrap_or(""),
            non_resource["path"].as_str().unwrap_or(""),
        ),
        None => {
            let attrs = &spec["resourceAttributes"];
            decide(
                objects,
                user,
                &groups,
                attrs["verb"].as_str().unwrap_or(""),
                attrs["group"].as_str().unwrap_or(""),
                attrs["resource"].as_str().unwrap_or(""),
                attrs["namespace"].as_str().filter(|n| !n.is_empty()),
            )
        }
    };
    let status = match decision {
        Some(reason) => json!({ "allowed": true, "reason": reason }),
        None => json!({ "allowed": false }),
    };
    json!({ "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {}, "spec": spec, "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_escape_is_a_bad_request_and_an_encoded_slash_a_separator() {
        assert_eq!(route("/api/v1/pods%2", None).unwrap_err().status, 400);
        let Ok(Route::Object(decoded)) = route("/api/v1/namespaces/kube-system%2Fpods", None)
        else {
            panic!("not decoded as a resource");
        };
        assert_eq!(decoded.resource.plural, "pods");
        assert_eq!(decoded.namespace.as_deref(), Some("kube-system"));
    }

    #[test]
    fn selectors_follow_the_api_servers_rules() {
        let labels = json!({ "tier": "control-plane", "component": "etcd" });
        assert!(label_selector_matches(
            "tier=control-plane,component in (etcd, kube-apiserver)",
            &labels
        ));
        assert!(!label_selector_matches("!tier", &labels));
        let event = json!({ "involvedObject": { "kind": "Node" }, "reason": "NodeNotReady" });
        assert!(field_selector_matches(
            "involvedObject.kind=Node,reason=NodeNotReady",
            &event
        ));
        assert!(!field_selector_matches("reason!=NodeNotReady", &event));
    }
}
