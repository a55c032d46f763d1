//! `check = "access"`: whether a subject may do something, as the cluster's authorizer decides.

use std::fmt;

use serde::Deserialize;

use super::{CheckToml, Parsing};

/// The keys an access check reads.
pub(super) const KEYS: &[&str] = &[
    "subject",
    "verb",
    "group",
    "resource",
    "namespace",
    "non_resource_url",
    "allowed",
];

/// Whether a subject may do something, as the cluster's authorizer decides (SubjectAccessReview).
#[derive(Debug, Clone)]
pub struct AccessCheck {
    /// Who.
    pub subject: Subject,
    /// `get`, `list`, `delete`, …
    pub verb: String,
    /// On what: a resource, or a non-resource URL such as `/metrics`.
    pub on: AccessTarget,
    /// The expected answer.
    pub allowed: bool,
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

/// The `subject` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubjectToml {
    service_account: Option<String>,
    user: Option<String>,
    group: Option<String>,
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

/// Validates an access check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<AccessCheck> {
    cx.require(toml.verb.is_some(), "verb");
    cx.require(toml.allowed.is_some(), "allowed");
    cx.require(toml.subject.is_some(), "subject");
    let name = cx.name;
    let on = match (toml.resource, toml.non_resource_url) {
        (Some(resource), None) => Some(AccessTarget::Resource {
            group: toml.group.unwrap_or_default(),
            resource,
            namespace: toml.namespace,
        }),
        (None, Some(url)) => {
            let path = url.get_ref();
            if toml.group.is_some() || toml.namespace.is_some() {
                cx.errors.push((
                    url.span().start,
                    format!("check `{name}`: a non-resource URL has no `group` or `namespace`"),
                ));
            }
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                cx.errors.push((
                    url.span().start,
                    format!("non_resource_url `{path}` should be a path such as \"/metrics\""),
                ));
            }
            Some(AccessTarget::NonResource {
                path: url.into_inner(),
            })
        }
        (None, None) => {
            cx.error(format!(
                "check `{name}` needs `resource` or `non_resource_url`"
            ));
            None
        }
        (Some(_), Some(url)) => {
            cx.errors.push((
                url.span().start,
                format!("check `{name}`: use either `resource` or `non_resource_url`"),
            ));
            None
        }
    };
    let subject = toml.subject.and_then(|s| {
        let span = s.span().start;
        s.into_inner()
            .parse()
            .map_err(|e| cx.errors.push((span, e)))
            .ok()
    });
    Some(AccessCheck {
        subject: subject?,
        verb: toml.verb.unwrap_or_default(),
        on: on?,
        allowed: toml.allowed.unwrap_or(true),
    })
}
