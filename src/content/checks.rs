//! Lab checks as authors write them: declarative, read-only questions about a cluster, in the
//! `[[checks]]` tables of a step's front matter. Parsed and validated here (selectors, field paths,
//! required keys per kind) so the runner in [`crate::labs`] only ever sees well-formed checks.

use std::fmt;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

/// One check: what to look at, and what the learner is told when it fails.
#[derive(Debug, Clone)]
pub struct Check {
    /// Unique within its lab, stable for scripts (`lectern lab check --output json`).
    pub id: String,
    /// What is being verified, as the learner reads it.
    pub title: String,
    /// Shown under a failure: what to do about it.
    pub hint: String,
    /// What to ask the cluster.
    pub spec: CheckSpec,
    /// A context of the learner's kubeconfig to ask instead of the one they check with, for steps
    /// that use a second cluster (e.g. `kind-solo`).
    pub context: Option<String>,
    /// Earlier checks of the same step that must pass for this one to count: a recovery check
    /// ("all nodes Ready") means something only after the failure it recovers from happened.
    pub after: Vec<String>,
}

/// The kinds of check.
///
/// To add a kind: add its variant here and its validation below (every field's mistakes reported at
/// `file:line`), then follow the steps in `labs/kinds/mod.rs`: one file that evaluates it against the
/// cluster, its dispatch in `labs::kinds::evaluate`, the API double and tests, and the README's
/// "Writing checks".
#[derive(Debug, Clone)]
pub enum CheckSpec {
    /// An object exists (with field assertions) or is absent.
    Resource {
        /// The object.
        target: ObjectRef,
        /// Passes when the object does not exist.
        absent: bool,
        /// Assertions on the object's fields, all of which must hold.
        fields: Vec<FieldAssertion>,
    },
    /// How many objects of a kind match selectors.
    Count {
        /// `v1`, `apps/v1`, …
        api_version: String,
        /// `Node`, `Pod`, …
        kind: String,
        /// `None` for cluster-scoped kinds or all namespaces.
        namespace: Option<String>,
        /// Kubernetes label selector syntax, passed to the API server.
        label_selector: Option<String>,
        /// Kubernetes field selector syntax, passed to the API server.
        field_selector: Option<String>,
        /// Inclusive lower bound.
        min: Option<u32>,
        /// Inclusive upper bound.
        max: Option<u32>,
        /// Count only Ready objects (nodes: Ready condition; pods: Ready and all containers ready).
        ready: bool,
    },
    /// Whether a subject may do something, as the cluster's authorizer decides (SubjectAccessReview).
    Access {
        /// Who.
        subject: Subject,
        /// `get`, `list`, `delete`, …
        verb: String,
        /// On what: a resource, or a non-resource URL such as `/metrics`.
        on: AccessTarget,
        /// The expected answer.
        allowed: bool,
    },
    /// Whether the cluster recorded an event (by reason, optionally message) about an object.
    Event {
        /// The kind of the object the event is about (`involvedObject.kind`), e.g. `Node`, `Pod`.
        kind: String,
        /// The object's namespace; `None` looks in every namespace (events about cluster-scoped
        /// objects such as Nodes are kept in `default`).
        namespace: Option<String>,
        /// The object's name; `None` means any object of the kind.
        name: Option<String>,
        /// The event's reason, e.g. `NodeNotReady`, `FailedScheduling`.
        reason: String,
        /// A pattern the event's message must match.
        message: Option<Regex>,
        /// Passes when there is no such event.
        absent: bool,
    },
    /// The API server's own health endpoint, optionally requiring named individual checks.
    Health {
        /// Which endpoint.
        endpoint: HealthEndpoint,
        /// Individual checks (from `?verbose`) that must pass, e.g. `etcd`.
        checks: Vec<String>,
    },
    /// The server's version is at least this `major.minor`.
    Version {
        /// Minimum `(major, minor)`.
        at_least: (u32, u32),
    },
}

/// What an access check asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    /// A resource of the API.
    Resource {
        /// API group, `""` for the core group.
        group: String,
        /// Resource (plural), e.g. `pods`, or a subresource such as `pods/log`.
        resource: String,
        /// `None` means across all namespaces (or a cluster-scoped resource).
        namespace: Option<String>,
    },
    /// A URL outside the resource API, such as `/metrics` or `/healthz`.
    NonResource {
        /// The path.
        path: String,
    },
}

/// Which object a resource check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `v1`, `rbac.authorization.k8s.io/v1`, …
    pub api_version: String,
    /// `ServiceAccount`, …
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A subject of an access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A service account, reviewed as the user `system:serviceaccount:NS:NAME` with its groups.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A user name as the authenticator reports it.
    User(String),
    /// A group.
    Group(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::ServiceAccount { namespace, name } => {
                write!(f, "ServiceAccount {namespace}/{name}")
            }
            Subject::User(user) => write!(f, "user {user}"),
            Subject::Group(group) => write!(f, "group {group}"),
        }
    }
}

/// `/livez` or `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEndpoint {
    /// Is the API server process alive.
    Livez,
    /// Is it ready to serve, including its storage.
    Readyz,
}

impl HealthEndpoint {
    /// The URL path.
    pub fn path(self) -> &'static str {
        match self {
            HealthEndpoint::Livez => "/livez",
            HealthEndpoint::Readyz => "/readyz",
        }
    }
}

/// An assertion on the values a field path selects; it must hold for every value, and there must
/// be at least one.
#[derive(Debug, Clone)]
pub struct FieldAssertion {
    /// The path as written, for messages.
    pub path_text: String,
    /// The parsed path.
    pub path: Vec<PathSegment>,
    /// What each selected value must satisfy.
    pub test: FieldTest,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// `.name` or `["dotted.key"]`.
    Key(String),
    /// `[3]`.
    Index(usize),
    /// `[*]`: every element.
    All,
}

/// What a selected value must satisfy.
#[derive(Debug, Clone)]
pub enum FieldTest {
    /// Equal to this JSON value.
    Equals(serde_json::Value),
    /// A string containing this substring, or an array containing this element.
    Contains(serde_json::Value),
    /// A string matching this regular expression.
    Matches(Regex),
    /// One of these values; for an array, every element is one of them.
    OneOf(Vec<serde_json::Value>),
    /// A number within these inclusive bounds (`at_least`, `at_most`).
    Between {
        /// Lower bound.
        at_least: Option<f64>,
        /// Upper bound.
        at_most: Option<f64>,
    },
    /// At least one element of the selected list (or one of the selected values) satisfies every
    /// one of these assertions, whose paths are relative to the element.
    Some(Vec<FieldAssertion>),
}

/// The `[[checks]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckToml {
    id: Spanned<String>,
    check: Spanned<String>,
    title: String,
    hint: String,
    api_version: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    absent: Option<bool>,
    #[serde(default)]
    fields: Vec<FieldToml>,
    label_selector: Option<Spanned<String>>,
    field_selector: Option<Spanned<String>>,
    min: Option<u32>,
    max: Option<u32>,
    exactly: Option<u32>,
    ready: Option<bool>,
    subject: Option<Spanned<SubjectToml>>,
    verb: Option<String>,
    group: Option<String>,
    resource: Option<String>,
    allowed: Option<bool>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    checks: Vec<String>,
    at_least: Option<Spanned<String>>,
    non_resource_url: Option<Spanned<String>>,
    reason: Option<String>,
    message_matches: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    after: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldToml {
    /// Required at the top level; inside `some`, omitted means the element itself.
    path: Option<Spanned<String>>,
    equals: Option<toml::Value>,
    contains: Option<toml::Value>,
    matches: Option<Spanned<String>>,
    one_of: Option<Vec<toml::Value>>,
    at_least: Option<f64>,
    at_most: Option<f64>,
    some: Option<Spanned<Vec<FieldToml>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectToml {
    service_account: Option<String>,
    user: Option<String>,
    group: Option<String>,
}

/// A mistake in a check, at a byte span of the TOML it was written in.
pub(super) type CheckError = (usize, String);

impl CheckToml {
    /// The check's id as written, before validation.
    pub(super) fn id(&self) -> &str {
        self.id.get_ref()
    }

    /// Validates and converts; every problem is reported with its offset in the TOML. `earlier`
    /// holds the ids of the checks before this one in its step, which `after` may name.
    pub(super) fn parse(self, at: usize, earlier: &[String]) -> Result<Check, Vec<CheckError>> {
        let mut errors = Vec::new();
        let kind_at = self.check.span().start;
        let name = self.id.get_ref().clone();
        if let Err(e) = super::StepId::parse(&name) {
            errors.push((self.id.span().start, e.replace("ids use", "check ids use")));
        }
        let require = |value: bool, key: &str, errors: &mut Vec<CheckError>| {
            if !value {
                errors.push((at, format!("check `{name}` needs `{key}`")));
            }
        };
        for key in self.keys_that_do_not_apply() {
            errors.push((
                at,
                format!(
                    "check `{name}`: `{key}` does not apply to {} checks",
                    self.check.get_ref()
                ),
            ));
        }
        let context = self.context.and_then(|c| {
            let valid = !c.get_ref().is_empty()
                && !c.get_ref().contains(|ch: char| ch.is_whitespace() || ch.is_control());
            if !valid {
                errors.push((c.span().start, format!("check `{name}`: `context` must name a kubeconfig context, e.g. \"kind-solo\"")));
            }
            valid.then(|| c.into_inner())
        });
        let after = match self.after {
            None => Vec::new(),
            Some(after) => {
                let span = after.span().start;
                let after = after.into_inner();
                for id in &after {
                    if !earlier.contains(id) {
                        errors.push((span, format!("check `{name}`: `after` names `{id}`, which is not a check earlier in this step")));
                    }
                }
                after
            }
        };
        let spec = match self.check.get_ref().as_str() {
            "resource" => {
                require(self.api_version.is_some(), "api_version", &mut errors);
                require(self.kind.is_some(), "kind", &mut errors);
                require(self.name.is_some(), "name", &mut errors);
                let fields: Vec<FieldAssertion> = self
                    .fields
                    .into_iter()
                    .filter_map(|f| f.parse(at).map_err(|e| errors.push(e)).ok())
                    .collect();
                let absent = self.absent.unwrap_or(false);
                let secret = self.api_version.as_deref() == Some("v1")
                    && self.kind.as_deref() == Some("Secret");
                if secret
                    && fields
                        .iter()
                        .any(|f| f.path.first() != Some(&PathSegment::Key("metadata".to_owned())))
                {
                    errors.push((at, format!("check `{name}`: Lectern never reads Secret data, so fields of a Secret must be under metadata")));
                }
                if absent && !fields.is_empty() {
                    errors.push((
                        at,
                        format!(
                            "check `{name}` asserts fields of an object it expects to be absent"
                        ),
                    ));
                }
                Some(CheckSpec::Resource {
                    target: ObjectRef {
                        api_version: self.api_version.unwrap_or_default(),
                        kind: self.kind.unwrap_or_default(),
                        namespace: self.namespace,
                        name: self.name.unwrap_or_default(),
                    },
                    absent,
                    fields,
                })
            }
            "count" => {
                require(self.api_version.is_some(), "api_version", &mut errors);
                require(self.kind.is_some(), "kind", &mut errors);
                let (min, max) = match (self.exactly, self.min, self.max) {
                    (Some(n), None, None) => (Some(n), Some(n)),
                    (None, None, None) => {
                        errors.push((
                            at,
                            format!("check `{name}` needs `exactly`, `min` or `max`"),
                        ));
                        (None, None)
                    }
                    (Some(_), _, _) => {
                        errors.push((
                            at,
                            format!("check `{name}`: use either `exactly` or `min`/`max`"),
                        ));
                        (None, None)
                    }
                    (None, min, max) => (min, max),
                };
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    errors.push((
                        at,
                        format!("check `{name}`: min {lo} is greater than max {hi}"),
                    ));
                }
                let ready = self.ready.unwrap_or(false);
                if ready && !matches!(self.kind.as_deref(), Some("Node" | "Pod")) {
                    errors.push((
                        at,
                        format!("check `{name}`: `ready` applies to Node and Pod counts only"),
                    ));
                }
                if let Some(selector) = &self.label_selector
                    && let Err(e) = validate_label_selector(selector.get_ref())
                {
                    errors.push((selector.span().start, e));
                }
                if let Some(selector) = &self.field_selector
                    && let Err(e) = validate_field_selector(selector.get_ref())
                {
                    errors.push((selector.span().start, e));
                }
                Some(CheckSpec::Count {
                    api_version: self.api_version.unwrap_or_default(),
                    kind: self.kind.unwrap_or_default(),
                    namespace: self.namespace,
                    label_selector: self.label_selector.map(Spanned::into_inner),
                    field_selector: self.field_selector.map(Spanned::into_inner),
                    min,
                    max,
                    ready,
                })
            }
            "access" => {
                require(self.verb.is_some(), "verb", &mut errors);
                require(self.allowed.is_some(), "allowed", &mut errors);
                require(self.subject.is_some(), "subject", &mut errors);
                let on = match (self.resource, self.non_resource_url) {
                    (Some(resource), None) => Some(AccessTarget::Resource {
                        group: self.group.unwrap_or_default(),
                        resource,
                        namespace: self.namespace,
                    }),
                    (None, Some(url)) => {
                        let path = url.get_ref();
                        if self.group.is_some() || self.namespace.is_some() {
                            errors.push((url.span().start, format!("check `{name}`: a non-resource URL has no `group` or `namespace`")));
                        }
                        if !path.starts_with('/') || path.contains(char::is_whitespace) {
                            errors.push((url.span().start, format!("non_resource_url `{path}` should be a path such as \"/metrics\"")));
                        }
                        Some(AccessTarget::NonResource {
                            path: url.into_inner(),
                        })
                    }
                    (None, None) => {
                        errors.push((
                            at,
                            format!("check `{name}` needs `resource` or `non_resource_url`"),
                        ));
                        None
                    }
                    (Some(_), Some(url)) => {
                        errors.push((
                            url.span().start,
                            format!("check `{name}`: use either `resource` or `non_resource_url`"),
                        ));
                        None
                    }
                };
                let subject = self.subject.and_then(|s| {
                    let span = s.span().start;
                    s.into_inner()
                        .parse()
                        .map_err(|e| errors.push((span, e)))
                        .ok()
                });
                match (subject, on) {
                    (Some(subject), Some(on)) => Some(CheckSpec::Access {
                        subject,
                        verb: self.verb.unwrap_or_default(),
                        on,
                        allowed: self.allowed.unwrap_or(true),
                    }),
                    _ => None,
                }
            }
            "event" => {
                require(self.kind.is_some(), "kind", &mut errors);
                require(self.reason.is_some(), "reason", &mut errors);
                let message = self.message_matches.and_then(|re| {
                    let span = re.span().start;
                    Regex::new(re.get_ref())
                        .map_err(|e| {
                            errors.push((span, format!("invalid regular expression: {e}")))
                        })
                        .ok()
                });
                Some(CheckSpec::Event {
                    kind: self.kind.unwrap_or_default(),
                    namespace: self.namespace,
                    name: self.name,
                    reason: self.reason.unwrap_or_default(),
                    message,
                    absent: self.absent.unwrap_or(false),
                })
            }
            "health" => {
                let endpoint = match self
                    .endpoint
                    .as_ref()
                    .map(|e| (e.span().start, e.get_ref().as_str()))
                {
                    Some((_, "livez")) => Some(HealthEndpoint::Livez),
                    Some((_, "readyz")) | None => Some(HealthEndpoint::Readyz),
                    Some((span, other)) => {
                        errors.push((
                            span,
                            format!(
                                "unknown health endpoint `{other}`: use \"livez\" or \"readyz\""
                            ),
                        ));
                        None
                    }
                };
                endpoint.map(|endpoint| CheckSpec::Health {
                    endpoint,
                    checks: self.checks,
                })
            }
            "version" => match &self.at_least {
                None => {
                    require(false, "at_least", &mut errors);
                    None
                }
                Some(v) => match parse_minor_version(v.get_ref()) {
                    Some(at_least) => Some(CheckSpec::Version { at_least }),
                    None => {
                        errors.push((
                            v.span().start,
                            format!(
                                "`{}` is not a version: write MAJOR.MINOR, e.g. \"1.30\"",
                                v.get_ref()
                            ),
                        ));
                        None
                    }
                },
            },
            other => {
                errors.push((kind_at, format!("unknown check `{other}`: the checks are resource, count, access, event, health and version")));
                None
            }
        };
        match spec {
            Some(spec) if errors.is_empty() => Ok(Check {
                id: name,
                title: self.title,
                hint: self.hint,
                spec,
                context,
                after,
            }),
            _ => Err(errors),
        }
    }
}

impl CheckToml {
    /// The keys given that the check's kind does not read: a likely slip (`reason` on a resource
    /// check, `min` on an access check) that would otherwise be silently ignored.
    fn keys_that_do_not_apply(&self) -> Vec<&'static str> {
        let given = [
            ("api_version", self.api_version.is_some()),
            ("kind", self.kind.is_some()),
            ("namespace", self.namespace.is_some()),
            ("name", self.name.is_some()),
            ("absent", self.absent.is_some()),
            ("fields", !self.fields.is_empty()),
            ("label_selector", self.label_selector.is_some()),
            ("field_selector", self.field_selector.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("exactly", self.exactly.is_some()),
            ("ready", self.ready.is_some()),
            ("subject", self.subject.is_some()),
            ("verb", self.verb.is_some()),
            ("group", self.group.is_some()),
            ("resource", self.resource.is_some()),
            ("allowed", self.allowed.is_some()),
            ("endpoint", self.endpoint.is_some()),
            ("checks", !self.checks.is_empty()),
            ("at_least", self.at_least.is_some()),
            ("non_resource_url", self.non_resource_url.is_some()),
            ("reason", self.reason.is_some()),
            ("message_matches", self.message_matches.is_some()),
        ];
        let applies: &[&str] = match self.check.get_ref().as_str() {
            "resource" => &[
                "api_version",
                "kind",
                "namespace",
                "name",
                "absent",
                "fields",
            ],
            "count" => &[
                "api_version",
                "kind",
                "namespace",
                "label_selector",
                "field_selector",
                "min",
                "max",
                "exactly",
                "ready",
            ],
            "access" => &[
                "subject",
                "verb",
                "group",
                "resource",
                "namespace",
                "non_resource_url",
                "allowed",
            ],
            "event" => &[
                "kind",
                "namespace",
                "name",
                "reason",
                "message_matches",
                "absent",
            ],
            "health" => &["endpoint", "checks"],
            "version" => &["at_least"],
            _ => return Vec::new(),
        };
        given
            .into_iter()
            .filter(|(key, present)| *present && !applies.contains(key))
            .map(|(key, _)| key)
            .collect()
    }
}

impl SubjectToml {
    fn parse(self) -> Result<Subject, String> {
        match (self.service_account, self.user, self.group) {
            (Some(sa), None, None) => match sa.split_once('/') {
                Some((namespace, name))
                    if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    Ok(Subject::ServiceAccount {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    })
                }
                _ => Err(format!("service_account `{sa}` should be NAMESPACE/NAME")),
            },
            (None, Some(user), None) => Ok(Subject::User(user)),
            (None, None, Some(group)) => Ok(Subject::Group(group)),
            _ => Err("subject names exactly one of service_account, user or group".to_owned()),
        }
    }
}

impl FieldToml {
    /// A top-level assertion: its path is required.
    fn parse(self, table_at: usize) -> Result<FieldAssertion, CheckError> {
        if self.path.is_none() {
            return Err((
                table_at,
                "every [[checks.fields]] needs a `path`".to_owned(),
            ));
        }
        self.parse_relative(table_at)
    }

    /// An assertion whose path may be omitted (inside `some`: the element itself).
    fn parse_relative(self, table_at: usize) -> Result<FieldAssertion, CheckError> {
        let (at, path_text, path) = match &self.path {
            Some(p) => (
                p.span().start,
                p.get_ref().clone(),
                parse_path(p.get_ref()).map_err(|e| (p.span().start, e))?,
            ),
            None => (table_at, "(the element)".to_owned(), Vec::new()),
        };
        let json = |v: toml::Value| serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
        let given = [
            self.equals.is_some(),
            self.contains.is_some(),
            self.matches.is_some(),
            self.one_of.is_some(),
            self.at_least.is_some() || self.at_most.is_some(),
            self.some.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err((
                at,
                format!(
                    "field `{path_text}` needs exactly one of equals, contains, matches, one_of, at_least/at_most or some"
                ),
            ));
        }
        let test = if let Some(v) = self.equals {
            FieldTest::Equals(json(v))
        } else if let Some(v) = self.contains {
            FieldTest::Contains(json(v))
        } else if let Some(re) = self.matches {
            let span = re.span().start;
            FieldTest::Matches(
                Regex::new(re.get_ref())
                    .map_err(|e| (span, format!("invalid regular expression: {e}")))?,
            )
        } else if let Some(values) = self.one_of {
            FieldTest::OneOf(values.into_iter().map(json).collect())
        } else if let Some(some) = self.some {
            let some_at = some.span().start;
            let inner = some.into_inner();
            if inner.is_empty() {
                return Err((
                    some_at,
                    format!("field `{path_text}`: `some` needs at least one assertion"),
                ));
            }
            FieldTest::Some(
                inner
                    .into_iter()
                    .map(|f| f.parse_relative(some_at))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            if let (Some(lo), Some(hi)) = (self.at_least, self.at_most)
                && lo > hi
            {
                return Err((
                    at,
                    format!("field `{path_text}`: at_least {lo} is greater than at_most {hi}"),
                ));
            }
            FieldTest::Between {
                at_least: self.at_least,
                at_most: self.at_most,
            }
        };
        Ok(FieldAssertion {
            path_text,
            path,
            test,
        })
    }
}

/// Parses `spec.containers[0].image`, `metadata.labels["topology.kubernetes.io/zone"]`, `rules[*].verbs`.
pub(super) fn parse_path(text: &str) -> Result<Vec<PathSegment>, String> {
    let bad = |why: &str| format!("invalid field path `{text}`: {why}");
    let mut segments = Vec::new();
    let mut rest = text.strip_prefix('.').unwrap_or(text);
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = match inner.strip_prefix('"') {
                Some(quoted) => quoted.find('"').map(|i| i + 2),
                None => inner.find(']'),
            }
            .ok_or_else(|| bad("unclosed `[`"))?;
            let token = &inner[..end];
            let after = inner[end..]
                .strip_prefix(']')
                .ok_or_else(|| bad("expected `]`"))?;
            segments.push(match token {
                "*" => PathSegment::All,
                t if t.starts_with('"') => PathSegment::Key(t.trim_matches('"').to_owned()),
                t => PathSegment::Index(t.parse().map_err(|_| bad("use [N], [*] or [\"key\"]"))?),
            });
            rest = after.strip_prefix('.').unwrap_or(after);
            if after.starts_with('.') && rest.is_empty() {
                return Err(bad("it ends with `.`"));
            }
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() {
                return Err(bad("empty key between dots"));
            }
            segments.push(PathSegment::Key(key.to_owned()));
            rest = &rest[end..];
            if let Some(after) = rest.strip_prefix('.') {
                if after.is_empty() {
                    return Err(bad("it ends with `.`"));
                }
                rest = after;
            }
        }
    }
    Ok(segments)
}

fn label_key_value() -> (&'static str, &'static str) {
    (
        r"(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?",
        r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?",
    )
}

/// Checks Kubernetes label selector syntax: `a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`.
pub(super) fn validate_label_selector(selector: &str) -> Result<(), String> {
    let (key, value) = label_key_value();
    let term = Regex::new(&format!(
        r"^\s*(?:!?\s*{key}|{key}\s*(?:==|=|!=)\s*{value}|{key}\s+(?:in|notin)\s+\(\s*{value}(?:\s*,\s*{value})*\s*\))\s*$"
    ))
    .expect("label selector grammar");
    for term_text in split_terms(selector) {
        if !term.is_match(term_text) {
            return Err(format!(
                "invalid label selector `{selector}`: cannot read `{}`",
                term_text.trim()
            ));
        }
    }
    Ok(())
}

/// Checks Kubernetes field selector syntax: `key=value`, `key==value`, `key!=value`, comma-separated.
pub(super) fn validate_field_selector(selector: &str) -> Result<(), String> {
    let term = Regex::new(r"^\s*[A-Za-z][A-Za-z0-9.]*\s*(?:==|=|!=)\s*[^,=!]*\s*$")
        .expect("field selector grammar");
    for term_text in selector.split(',') {
        if !term.is_match(term_text) {
            return Err(format!(
                "invalid field selector `{selector}`: cannot read `{}`",
                term_text.trim()
            ));
        }
    }
    Ok(())
}

/// Splits at commas outside parentheses.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `"1.30"` → `(1, 30)`.
fn parse_minor_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim_start_matches('v').split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        use PathSegment::*;
        assert_eq!(
            parse_path("spec.containers[0].image").unwrap(),
            vec![
                Key("spec".into()),
                Key("containers".into()),
                Index(0),
                Key("image".into())
            ]
        );
        assert_eq!(
            parse_path(".metadata.labels[\"topology.kubernetes.io/zone\"]").unwrap(),
            vec![
                Key("metadata".into()),
                Key("labels".into()),
                Key("topology.kubernetes.io/zone".into())
            ]
        );
        assert_eq!(
            parse_path("rules[*].verbs").unwrap(),
            vec![Key("rules".into()), All, Key("verbs".into())]
        );
        for bad in ["", "a..b", "a.", "a[", "a[x]", "a[0", "a[\"k]"] {
            assert!(parse_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        for good in [
            "component=etcd",
            "tier=control-plane,component in (etcd, kube-apiserver)",
            "node-role.kubernetes.io/control-plane",
            "!node-role.kubernetes.io/control-plane",
            "app!=web",
            "topology.kubernetes.io/zone notin (zone-a)",
            "a==b",
        ] {
            assert!(validate_label_selector(good).is_ok(), "{good}");
        }
        for bad in ["=etcd", "a in b", "a=b=c", "a b", "tier=control plane", ""] {
            assert!(validate_label_selector(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn field_selectors_follow_kubernetes_syntax() {
        assert!(
            validate_field_selector("status.phase=Running,spec.nodeName!=k8s-ha-worker").is_ok()
        );
        assert!(validate_field_selector("metadata.name==x").is_ok());
        for bad in ["status.phase", "=Running", "status.phase~Running"] {
            assert!(validate_field_selector(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_minor_version("1.30"), Some((1, 30)));
        assert_eq!(parse_minor_version("v1.29"), Some((1, 29)));
        assert_eq!(parse_minor_version("1"), None);
    }
}
