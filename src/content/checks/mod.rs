//! Lab checks as authors write them: declarative, read-only questions about a cluster, in the
//! `[[checks]]` tables of a step's front matter. Parsed and validated here (selectors, field paths,
//! required keys per kind) so the runner in [`crate::labs`] only ever sees well-formed checks.
//!
//! Each kind of check is one file here (its payload, the keys it reads, its parse), mirrored by
//! one file in `labs/kinds/` that evaluates it. To add a kind:
//! 1. a [`CheckKind`] variant, its name in [`CheckKind::ALL`], and a [`CheckSpec`] variant: the
//!    compiler then points at every `match` that must learn it (the name, the keys, the parse);
//! 2. a file here with the payload, its `KEYS` and a `parse` that reports every mistake with its
//!    position (`file:line`);
//! 3. then the steps in `labs/kinds/mod.rs`: its evaluation, the API double, tests, the README.

mod access;
mod count;
mod event;
mod fields;
mod health;
mod resource;
mod version;

use serde::Deserialize;
use toml::Spanned;

pub use access::{AccessCheck, AccessTarget, Subject};
pub use count::{CountCheck, split_terms as split_selector_terms};
pub use event::EventCheck;
pub use fields::{FieldAssertion, FieldTest, PathSegment};
pub use health::{HealthCheck, HealthEndpoint};
pub use resource::{ObjectRef, ResourceCheck};
pub use version::VersionCheck;

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
    /// Whether it must hold now, or once since the learner started the step (a transition that
    /// is over by the time they check: the objects that existed before a restore).
    pub held: Held,
}

/// When a check must hold: `held = "now"` (the default) or `held = "once-since-start"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Held {
    /// At the moment it is checked.
    #[default]
    Now,
    /// At some moment since the learner started the step, as Lectern saw it (the live checks
    /// watch a started step, and every check of it counts): the state and the time are kept.
    OnceSinceStart,
}

impl Held {
    /// The value authors write.
    pub fn name(self) -> &'static str {
        match self {
            Held::Now => "now",
            Held::OnceSinceStart => "once-since-start",
        }
    }
}

/// The kinds of check, as `check = "…"` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// An object, its fields, or its absence.
    Resource,
    /// How many objects match.
    Count,
    /// What the authorizer allows.
    Access,
    /// An event the cluster recorded.
    Event,
    /// The API server's health endpoint.
    Health,
    /// The server's version.
    Version,
}

impl CheckKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [CheckKind; 6] = [
        CheckKind::Resource,
        CheckKind::Count,
        CheckKind::Access,
        CheckKind::Event,
        CheckKind::Health,
        CheckKind::Version,
    ];

    /// The name authors write.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Resource => "resource",
            CheckKind::Count => "count",
            CheckKind::Access => "access",
            CheckKind::Event => "event",
            CheckKind::Health => "health",
            CheckKind::Version => "version",
        }
    }

    /// The kind `check = "…"` names, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The keys of a `[[checks]]` table this kind reads, besides the ones every check has.
    fn keys(self) -> &'static [&'static str] {
        match self {
            CheckKind::Resource => resource::KEYS,
            CheckKind::Count => count::KEYS,
            CheckKind::Access => access::KEYS,
            CheckKind::Event => event::KEYS,
            CheckKind::Health => health::KEYS,
            CheckKind::Version => version::KEYS,
        }
    }
}

/// What a check asks the cluster: one payload per kind, each defined in its kind's file.
#[derive(Debug, Clone)]
pub enum CheckSpec {
    /// An object exists (with field assertions) or is absent.
    Resource(ResourceCheck),
    /// How many objects of a kind match selectors.
    Count(CountCheck),
    /// Whether a subject may do something (SubjectAccessReview).
    Access(AccessCheck),
    /// Whether the cluster recorded an event about an object.
    Event(EventCheck),
    /// The API server's own health endpoint.
    Health(HealthCheck),
    /// The server's version is at least a `major.minor`.
    Version(VersionCheck),
}

impl CheckSpec {
    /// Its kind.
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckSpec::Resource(_) => CheckKind::Resource,
            CheckSpec::Count(_) => CheckKind::Count,
            CheckSpec::Access(_) => CheckKind::Access,
            CheckSpec::Event(_) => CheckKind::Event,
            CheckSpec::Health(_) => CheckKind::Health,
            CheckSpec::Version(_) => CheckKind::Version,
        }
    }
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
    fields: Vec<fields::FieldToml>,
    label_selector: Option<Spanned<String>>,
    field_selector: Option<Spanned<String>>,
    min: Option<u32>,
    max: Option<u32>,
    exactly: Option<u32>,
    ready: Option<bool>,
    subject: Option<Spanned<access::SubjectToml>>,
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
    held: Option<Spanned<String>>,
}

/// A mistake in a check, at a byte span of the TOML it was written in.
pub(super) type CheckError = (usize, String);

/// One check's validation in progress: where its table starts, its id, and the mistakes so far.
struct Parsing<'a> {
    at: usize,
    name: &'a str,
    errors: Vec<CheckError>,
}

impl Parsing<'_> {
    /// A mistake about the table as a whole (at its start).
    fn error(&mut self, message: String) {
        self.errors.push((self.at, message));
    }

    /// Reports a required key that is missing.
    fn require(&mut self, present: bool, key: &str) {
        if !present {
            self.error(format!("check `{}` needs `{key}`", self.name));
        }
    }
}

impl CheckToml {
    /// The check's id as written, before validation.
    pub(super) fn id(&self) -> &str {
        self.id.get_ref()
    }

    /// Validates and converts; every problem is reported with its offset in the TOML. `earlier`
    /// holds the ids of the checks before this one in its step, which `after` may name.
    pub(super) fn parse(mut self, at: usize, earlier: &[String]) -> Result<Check, Vec<CheckError>> {
        let name = self.id.get_ref().clone();
        let mut cx = Parsing {
            at,
            name: &name,
            errors: Vec::new(),
        };
        if let Err(e) = super::StepId::parse(&name) {
            cx.errors
                .push((self.id.span().start, e.replace("ids use", "check ids use")));
        }
        let kind = CheckKind::parse(self.check.get_ref());
        for key in self.keys_that_do_not_apply(kind) {
            cx.error(format!(
                "check `{name}`: `{key}` does not apply to {} checks",
                self.check.get_ref()
            ));
        }
        let context = self.context.take().and_then(|c| {
            let valid = !c.get_ref().is_empty()
                && !c.get_ref().contains(|ch: char| ch.is_whitespace() || ch.is_control());
            if !valid {
                cx.errors.push((c.span().start, format!("check `{name}`: `context` must name a kubeconfig context, e.g. \"kind-solo\"")));
            }
            valid.then(|| c.into_inner())
        });
        let after = match self.after.take() {
            None => Vec::new(),
            Some(after) => {
                let span = after.span().start;
                let after = after.into_inner();
                for id in &after {
                    if !earlier.contains(id) {
                        cx.errors.push((span, format!("check `{name}`: `after` names `{id}`, which is not a check earlier in this step")));
                    }
                }
                after
            }
        };
        let held = match self.held.take() {
            None => Held::Now,
            Some(held) => match held.get_ref().as_str() {
                "now" => Held::Now,
                "once-since-start" => Held::OnceSinceStart,
                other => {
                    cx.errors.push((held.span().start, format!("check `{name}`: `held` is \"now\" (the default) or \"once-since-start\", not \"{other}\"")));
                    Held::Now
                }
            },
        };
        let (title, hint) = (
            std::mem::take(&mut self.title),
            std::mem::take(&mut self.hint),
        );
        let spec = match kind {
            Some(CheckKind::Resource) => resource::parse(self, &mut cx).map(CheckSpec::Resource),
            Some(CheckKind::Count) => count::parse(self, &mut cx).map(CheckSpec::Count),
            Some(CheckKind::Access) => access::parse(self, &mut cx).map(CheckSpec::Access),
            Some(CheckKind::Event) => event::parse(self, &mut cx).map(CheckSpec::Event),
            Some(CheckKind::Health) => health::parse(self, &mut cx).map(CheckSpec::Health),
            Some(CheckKind::Version) => version::parse(self, &mut cx).map(CheckSpec::Version),
            None => {
                let names: Vec<&str> = CheckKind::ALL.iter().map(|k| k.name()).collect();
                let (last, others) = names.split_last().unwrap_or((&"", &[]));
                let written = self.check.get_ref();
                let guess = names
                    .iter()
                    .map(|name| (edit_distance(&written.to_lowercase(), name), name))
                    .filter(|(distance, _)| *distance <= 2)
                    .min()
                    .map(|(_, name)| format!(" (did you mean `{name}`?)"))
                    .unwrap_or_default();
                cx.errors.push((
                    self.check.span().start,
                    format!(
                        "unknown check `{written}`{guess}: the checks are {} and {last}",
                        others.join(", ")
                    ),
                ));
                None
            }
        };
        match spec {
            Some(spec) if cx.errors.is_empty() => Ok(Check {
                id: name,
                title,
                hint,
                spec,
                context,
                after,
                held,
            }),
            _ => Err(cx.errors),
        }
    }

    /// The keys given that the check's kind does not read: a likely slip (`reason` on a resource
    /// check, `min` on an access check) that would otherwise be silently ignored.
    fn keys_that_do_not_apply(&self, kind: Option<CheckKind>) -> Vec<&'static str> {
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
        let Some(kind) = kind else {
            return Vec::new();
        };
        given
            .into_iter()
            .filter(|(key, present)| *present && !kind.keys().contains(key))
            .map(|(key, _)| key)
            .collect()
    }
}

/// How many single-character insertions, deletions and substitutions turn `a` into `b`
/// (Levenshtein), for "did you mean" on a misspelt name.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
