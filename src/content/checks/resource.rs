//! `check = "resource"`: an object exists, with fields as asked, or is absent.

use std::fmt;

use super::fields::FieldAssertion;
use super::{CheckToml, Parsing, PathSegment};

/// The keys a resource check reads.
pub(super) const KEYS: &[&str] = &[
    "api_version",
    "kind",
    "namespace",
    "name",
    "absent",
    "fields",
];

/// An object exists (with field assertions) or is absent.
#[derive(Debug, Clone)]
pub struct ResourceCheck {
    /// The object.
    pub target: ObjectRef,
    /// Passes when the object does not exist.
    pub absent: bool,
    /// Assertions on the object's fields, all of which must hold.
    pub fields: Vec<FieldAssertion>,
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

/// Validates a resource check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<ResourceCheck> {
    cx.require(toml.api_version.is_some(), "api_version");
    cx.require(toml.kind.is_some(), "kind");
    cx.require(toml.name.is_some(), "name");
    let at = cx.at;
    let fields: Vec<FieldAssertion> = toml
        .fields
        .into_iter()
        .filter_map(|f| f.parse(at).map_err(|e| cx.errors.push(e)).ok())
        .collect();
    let absent = toml.absent.unwrap_or(false);
    let secret =
        toml.api_version.as_deref() == Some("v1") && toml.kind.as_deref() == Some("Secret");
    if secret
        && fields
            .iter()
            .any(|f| f.path.first() != Some(&PathSegment::Key("metadata".to_owned())))
    {
        cx.error(format!("check `{}`: Lectern never reads Secret data, so fields of a Secret must be under metadata", cx.name));
    }
    if absent && !fields.is_empty() {
        cx.error(format!(
            "check `{}` asserts fields of an object it expects to be absent",
            cx.name
        ));
    }
    Some(ResourceCheck {
        target: ObjectRef {
            api_version: toml.api_version.unwrap_or_default(),
            kind: toml.kind.unwrap_or_default(),
            namespace: toml.namespace,
            name: toml.name.unwrap_or_default(),
        },
        absent,
        fields,
    })
}
