//! A lab's tests, `lab/tests/lab-test.toml` beside its steps: named cluster states (recorded
//! files, or another state changed), the steps each must pass and fail, sequences of states for
//! the transitions a step watches, and mutants (a wrong way of doing a step, written as a change
//! to a state) with the check that must catch each. Every mistake is reported as `file:line`.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::state::{ClusterState, ContextState, FORMAT, HealthCheck};
use crate::content::{CourseFiles, Diagnostic, LAB_TESTS, Lab};

/// The test plan's name within the lab's tests folder (`lab/tests/`).
pub const PLAN_FILE: &str = "lab-test.toml";

/// A module's lab tests folder, course-relative, ending in `/`.
pub fn tests_dir(module_dir: &str) -> String {
    format!("{module_dir}/lab/{LAB_TESTS}")
}

/// A lab's tests, loaded and checked against the lab.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's course-relative path.
    pub file: String,
    /// The named states, in file order.
    pub states: Vec<NamedState>,
    /// The transitions.
    pub sequences: Vec<Sequence>,
    /// The wrong ways of doing a step.
    pub mutants: Vec<Mutant>,
}

/// A state and the verdicts expected on it.
#[derive(Debug, Clone)]
pub struct NamedState {
    /// Its name.
    pub name: String,
    /// The answers it gives.
    pub state: ClusterState,
    /// When every step started (events before it do not count); `None`: no start known.
    pub started: Option<String>,
    /// Steps that must pass on it.
    pub pass: Vec<u32>,
    /// Steps that must fail on it.
    pub fail: Vec<u32>,
}

/// States one after another while a step is followed, and the step's verdict after the last.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// What it shows.
    pub name: String,
    /// The step followed.
    pub step: u32,
    /// The states, in order.
    pub states: Vec<ClusterState>,
    /// When the step started.
    pub started: Option<String>,
    /// Whether the step must pass after the last state.
    pub pass: bool,
}

/// A wrong way of doing a step and the check that must catch it.
#[derive(Debug, Clone)]
pub struct Mutant {
    /// The mistake, as a learner would make it.
    pub name: String,
    /// The step it is a wrong way of doing.
    pub step: u32,
    /// The states the step is followed through; the mistake is in the last.
    pub states: Vec<ClusterState>,
    /// When the step started.
    pub started: Option<String>,
    /// The check that must fail.
    pub catch: String,
    /// Text its failure must contain (the near-miss it names).
    pub says: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanToml {
    #[serde(default)]
    state: Vec<StateToml>,
    #[serde(default)]
    sequence: Vec<SequenceToml>,
    #[serde(default)]
    mutant: Vec<MutantToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateToml {
    name: Spanned<String>,
    file: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    #[serde(default)]
    change: Vec<Spanned<Change>>,
    started: Option<Spanned<String>>,
    #[serde(default)]
    pass: Vec<Spanned<u32>>,
    #[serde(default)]
    fail: Vec<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceToml {
    name: Spanned<String>,
    step: Spanned<u32>,
    states: Vec<Spanned<String>>,
    started: Option<Spanned<String>>,
    expect: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MutantToml {
    name: Spanned<String>,
    step: Spanned<u32>,
    from: Option<Spanned<String>>,
    #[serde(default)]
    states: Vec<Spanned<String>>,
    started: Option<Spanned<String>>,
    catch: Spanned<String>,
    says: Option<String>,
    #[serde(default)]
    change: Vec<Spanned<Change>>,
}

/// One change to a state: to an object's field, an object, a health check or the version.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum Change {
    /// Sets the field at `path` (a JSON pointer; `-` appends to a list).
    Set {
        object: String,
        path: String,
        value: toml::Value,
        context: Option<String>,
    },
    /// Removes the field at `path`.
    Remove {
        object: String,
        path: String,
        context: Option<String>,
    },
    /// Deletes the object.
    Delete {
        object: String,
        context: Option<String>,
    },
    /// Creates (or replaces) an object.
    Create {
        value: toml::Value,
        context: Option<String>,
    },
    /// Makes a health check pass or fail.
    Health {
        endpoint: String,
        check: String,
        ok: bool,
        context: Option<String>,
    },
    /// Changes the server's version.
    Version {
        version: String,
        context: Option<String>,
    },
    /// Takes a context away, as if its cluster was never created.
    RemoveContext { context: String },
    /// Makes another context the current one, as `kind create cluster` does for the new cluster.
    UseContext { context: String },
}

/// Reads the plan of the lab in `module_dir`, if it has one.
pub fn load(
    files: &CourseFiles,
    module_dir: &str,
    lab: &Lab,
) -> Result<Option<Plan>, Vec<Diagnostic>> {
    let file = format!("{}{PLAN_FILE}", tests_dir(module_dir));
    if !files.contains(&file) {
        return Ok(None);
    }
    let text = files.text(&file).map_err(|d| vec![d])?;
    let mut loader = Loader {
        files,
        dir: tests_dir(module_dir),
        file: file.clone(),
        text,
        lab,
        diagnostics: Vec::new(),
        unreadable: HashSet::new(),
    };
    let plan = loader.plan();
    if loader.diagnostics.is_empty() {
        Ok(plan)
    } else {
        let mut diagnostics = loader.diagnostics;
        diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Err(diagnostics)
    }
}

struct Loader<'a> {
    files: &'a CourseFiles,
    dir: String,
    file: String,
    text: &'a str,
    lab: &'a Lab,
    diagnostics: Vec<Diagnostic>,
    /// States whose own definition has an error: a reference to one is not a second mistake.
    unreadable: HashSet<String>,
}

impl Loader<'_> {
    fn error(&mut self, at: usize, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(&self.file, self.text, at, message));
    }

    fn plan(&mut self) -> Option<Plan> {
        let toml: PlanToml = match toml::from_str(self.text) {
            Ok(toml) => toml,
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                self.error(at, e.message().trim_end().to_owned());
                return None;
            }
        };
        let mut named: BTreeMap<String, ClusterState> = BTreeMap::new();
        let mut states = Vec::new();
        for state in toml.state {
            let at = state.name.span().start;
            let name = state.name.get_ref().clone();
            if named.contains_key(&name) {
                self.error(at, format!("a state named `{name}` is already defined"));
                continue;
            }
            let base = match (&state.file, &state.from) {
                (Some(file), None) => self.read_state(file),
                (None, Some(from)) => self.earlier(&named, from),
                _ => {
                    self.error(
                        at,
                        format!(
                            "state `{name}` needs either `file` (a recorded state) or `from` (an earlier state to change)"
                        ),
                    );
                    None
                }
            };
            let started = self.started(state.started.as_ref());
            self.steps_exist(&state.pass, true);
            self.steps_exist(&state.fail, true);
            for step in &state.pass {
                if state.fail.iter().any(|f| f.get_ref() == step.get_ref()) {
                    self.error(
                        step.span().start,
                        format!("step {} is listed both to pass and to fail", step.get_ref()),
                    );
                }
            }
            let Some(mut cluster) = base else {
                self.unreadable.insert(name);
                continue;
            };
            self.apply(&mut cluster, &state.change);
            named.insert(name.clone(), cluster.clone());
            states.push(NamedState {
                name,
                state: cluster,
                started,
                pass: state.pass.iter().map(|s| *s.get_ref()).collect(),
                fail: state.fail.iter().map(|s| *s.get_ref()).collect(),
            });
        }
        let mut sequences = Vec::new();
        for sequence in toml.sequence {
            self.steps_exist(std::slice::from_ref(&sequence.step), true);
            let pass = match sequence.expect.get_ref().as_str() {
                "pass" => true,
                "fail" => false,
                other => {
                    self.error(
                        sequence.expect.span().start,
                        format!("expect = \"{other}\": write \"pass\" or \"fail\""),
                    );
                    continue;
                }
            };
            if sequence.states.len() < 2 {
                self.error(
                    sequence.name.span().start,
                    "a sequence needs at least two states (one state is a `[[state]]`)",
                );
            }
            let states: Vec<ClusterState> = sequence
                .states
                .iter()
                .filter_map(|s| self.earlier(&named, s))
                .collect();
            let started = self.started(sequence.started.as_ref());
            sequences.push(Sequence {
                name: sequence.name.into_inner(),
                step: sequence.step.into_inner(),
                states,
                started,
                pass,
            });
        }
        let mut mutants = Vec::new();
        let mut mutant_names = HashSet::new();
        for mutant in toml.mutant {
            let at = mutant.name.span().start;
            if !mutant_names.insert(mutant.name.get_ref().clone()) {
                self.error(
                    at,
                    format!(
                        "a mutant named `{}` is already defined",
                        mutant.name.get_ref()
                    ),
                );
            }
            self.steps_exist(std::slice::from_ref(&mutant.step), true);
            let step = *mutant.step.get_ref();
            let in_step = self
                .lab
                .steps
                .iter()
                .find(|s| s.number == step)
                .is_some_and(|s| s.checks.iter().any(|c| c.id == *mutant.catch.get_ref()));
            if !in_step {
                let ids: Vec<String> = self
                    .lab
                    .steps
                    .iter()
                    .filter(|s| s.number == step)
                    .flat_map(|s| s.checks.iter().map(|c| c.id.clone()))
                    .collect();
                self.error(
                    mutant.catch.span().start,
                    format!(
                        "step {step} has no check `{}` (its checks: {})",
                        mutant.catch.get_ref(),
                        ids.join(", ")
                    ),
                );
            }
            let mut states: Vec<ClusterState> = match (&mutant.from, mutant.states.is_empty()) {
                (Some(from), true) => self.earlier(&named, from).into_iter().collect(),
                (None, false) => mutant
                    .states
                    .iter()
                    .filter_map(|s| self.earlier(&named, s))
                    .collect(),
                _ => {
                    self.error(
                        at,
                        "a mutant needs either `from` (one state) or `states` (a sequence; the change applies to the last)",
                    );
                    continue;
                }
            };
            if mutant.change.is_empty() && mutant.states.is_empty() && mutant.started.is_none() {
                self.error(
                    at,
                    "a mutant needs a `[[mutant.change]]`, a sequence of `states`, or a `started` time that makes it wrong",
                );
            }
            if let Some(last) = states.last_mut() {
                self.apply(last, &mutant.change);
            }
            let started = self.started(mutant.started.as_ref());
            mutants.push(Mutant {
                name: mutant.name.into_inner(),
                step,
                states,
                started,
                catch: mutant.catch.into_inner(),
                says: mutant.says,
            });
        }
        Some(Plan {
            file: self.file.clone(),
            states,
            sequences,
            mutants,
        })
    }

    fn earlier(
        &mut self,
        named: &BTreeMap<String, ClusterState>,
        name: &Spanned<String>,
    ) -> Option<ClusterState> {
        let found = named.get(name.get_ref()).cloned();
        if found.is_none() && !self.unreadable.contains(name.get_ref()) {
            let known: Vec<&str> = named.keys().map(String::as_str).collect();
            self.error(
                name.span().start,
                format!(
                    "no state `{}` is defined above this line (states: {})",
                    name.get_ref(),
                    known.join(", ")
                ),
            );
        }
        found
    }

    fn started(&mut self, started: Option<&Spanned<String>>) -> Option<String> {
        let started = started?;
        match chrono::DateTime::parse_from_rfc3339(started.get_ref()) {
            Ok(_) => Some(started.get_ref().clone()),
            Err(e) => {
                self.error(
                    started.span().start,
                    format!("started = \"{}\": not an RFC 3339 time ({e}), e.g. \"2026-12-04T09:00:00Z\"", started.get_ref()),
                );
                None
            }
        }
    }

    fn steps_exist(&mut self, steps: &[Spanned<u32>], with_checks: bool) {
        for step in steps {
            let n = *step.get_ref();
            match self.lab.steps.iter().find(|s| s.number == n) {
                None => self.error(
                    step.span().start,
                    format!(
                        "the lab has no step {n} (it has steps 1 to {})",
                        self.lab.steps.len()
                    ),
                ),
                Some(s) if with_checks && s.checks.is_empty() => {
                    self.error(step.span().start, format!("step {n} has no checks to test"))
                }
                Some(_) => {}
            }
        }
    }

    /// Reads a recorded state; a JSON mistake is reported at its line in that file.
    fn read_state(&mut self, file: &Spanned<String>) -> Option<ClusterState> {
        let path = format!("{}{}", self.dir, file.get_ref());
        let Some(bytes) = self.files.get(&path) else {
            self.error(
                file.span().start,
                format!("no file {path}: record one with `lectern lab record`"),
            );
            return None;
        };
        let text = String::from_utf8_lossy(bytes);
        match serde_json::from_str::<ClusterState>(&text) {
            Ok(state) if state.format != FORMAT => {
                self.diagnostics.push(Diagnostic::in_file(
                    &path,
                    format!("format \"{}\" is not \"{FORMAT}\"", state.format),
                ));
                None
            }
            Ok(state) if !state.contexts.contains_key(&state.current_context) => {
                self.diagnostics.push(Diagnostic::in_file(
                    &path,
                    format!(
                        "current-context \"{}\" is not one of its contexts",
                        state.current_context
                    ),
                ));
                None
            }
            Ok(state) => {
                for (context, answers) in &state.contexts {
                    if let Some(bad) = answers.objects.iter().find(|o| {
                        !o["apiVersion"].is_string()
                            || !o["kind"].is_string()
                            || !o["metadata"]["name"].is_string()
                    }) {
                        self.diagnostics.push(Diagnostic::in_file(
                            &path,
                            format!(
                                "context {context}: an object without apiVersion, kind or metadata.name: {}",
                                crate::labtest::short(bad)
                            ),
                        ));
                    }
                }
                Some(state)
            }
            Err(e) => {
                self.diagnostics.push(Diagnostic {
                    file: path,
                    line: e.line().max(1),
                    column: e.column().max(1),
                    message: e.to_string(),
                });
                None
            }
        }
    }

    fn apply(&mut self, state: &mut ClusterState, changes: &[Spanned<Change>]) {
        for change in changes {
            if let Err(message) = apply(state, change.get_ref()) {
                self.error(change.span().start, message);
            }
        }
    }
}

/// Applies one change, or says why it cannot be.
fn apply(state: &mut ClusterState, change: &Change) -> Result<(), String> {
    let context_of = |state: &mut ClusterState, context: &Option<String>| {
        let name = context.clone().unwrap_or(state.current_context.clone());
        let known: Vec<String> = state.contexts.keys().cloned().collect();
        state
            .contexts
            .get(&name)
            .cloned()
            .map(|c| (name.clone(), c))
            .ok_or_else(|| {
                format!(
                    "no context `{name}` in this state (it has: {})",
                    known.join(", ")
                )
            })
    };
    let (name, mut context) = match change {
        Change::UseContext { context } => {
            if !state.contexts.contains_key(context) {
                return Err(format!("no context `{context}` in this state"));
            }
            state.current_context = context.clone();
            return Ok(());
        }
        Change::RemoveContext { context } => {
            if context == &state.current_context {
                return Err(format!(
                    "`{context}` is the current context, which every check without a context asks"
                ));
            }
            return match state.contexts.remove(context) {
                Some(_) => Ok(()),
                None => Err(format!("no context `{context}` in this state")),
            };
        }
        Change::Set { context, .. }
        | Change::Remove { context, .. }
        | Change::Delete { context, .. }
        | Change::Create { context, .. }
        | Change::Health { context, .. }
        | Change::Version { context, .. } => context_of(state, context)?,
    };
    match change {
        Change::Set {
            object,
            path,
            value,
            ..
        } => {
            let index = find(&context, object)?;
            let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
            set(&mut context.objects[index], path, value).map_err(|e| format!("{object}: {e}"))?;
        }
        Change::Remove { object, path, .. } => {
            let index = find(&context, object)?;
            remove(&mut context.objects[index], path).map_err(|e| format!("{object}: {e}"))?;
        }
        Change::Delete { object, .. } => {
            let index = find(&context, object)?;
            context.objects.remove(index);
        }
        Change::Create { value, .. } => {
            let object = serde_json::to_value(value).map_err(|e| e.to_string())?;
            let (Some(kind), Some(name)) =
                (object["kind"].as_str(), object["metadata"]["name"].as_str())
            else {
                return Err("the object to create needs apiVersion, kind and metadata.name".into());
            };
            if !object["apiVersion"].is_string() {
                return Err("the object to create needs apiVersion, kind and metadata.name".into());
            }
            match context.find(kind, object["metadata"]["namespace"].as_str(), name) {
                Some(i) => context.objects[i] = object,
                None => context.objects.push(object),
            }
        }
        Change::Health {
            endpoint,
            check,
            ok,
            ..
        } => {
            let checks = match endpoint.as_str() {
                "readyz" => &mut context.readyz,
                "livez" => &mut context.livez,
                other => {
                    return Err(format!(
                        "endpoint \"{other}\": write \"readyz\" or \"livez\""
                    ));
                }
            };
            match checks.iter_mut().find(|c| &c.check == check) {
                Some(found) => found.ok = *ok,
                None => checks.push(HealthCheck {
                    check: check.clone(),
                    ok: *ok,
                }),
            }
        }
        Change::Version { version, .. } => {
            context.version = ContextState::version_answer(version);
        }
        Change::RemoveContext { .. } | Change::UseContext { .. } => {}
    }
    state.contexts.insert(name, context);
    Ok(())
}

/// Finds `Kind namespace/name` or `Kind name` among a context's objects.
fn find(context: &ContextState, reference: &str) -> Result<usize, String> {
    let (kind, rest) = reference.split_once(' ').ok_or_else(|| {
        format!("object = \"{reference}\": write `Kind namespace/name` or `Kind name`")
    })?;
    let (namespace, name) = match rest.trim().split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, rest.trim()),
    };
    context.find(kind, namespace, name).ok_or_else(|| {
        let same_kind: Vec<String> = context
            .objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| match o["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", o["metadata"]["name"].as_str().unwrap_or("")),
                None => o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            })
            .take(8)
            .collect();
        format!(
            "no {reference} in this state ({kind} objects: {})",
            if same_kind.is_empty() {
                "none".to_owned()
            } else {
                same_kind.join(", ")
            }
        )
    })
}

fn pointer_parts(path: &str) -> Result<Vec<String>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "path \"{path}\" is not a JSON pointer (it starts with /)"
        ));
    };
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'v>(root: &'v mut Value, parts: &[String], path: &str) -> Result<&'v mut Value, String> {
    let mut at = root;
    for part in parts {
        at = match at {
            Value::Object(map) => map.get_mut(part),
            Value::Array(list) => part.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("no field {path}: nothing at /{part}"))?;
    }
    Ok(at)
}

/// Sets the field at a JSON pointer: a new key, a list element replaced, or `-` appended.
fn set(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts = pointer_parts(path)?;
    let Some((last, above)) = parts.split_last() else {
        return Err("path \"/\" would replace the whole object: use op = \"create\"".into());
    };
    match parent(root, above, path)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(list) if last == "-" => {
            list.push(value);
            Ok(())
        }
        Value::Array(list) => match last.parse::<usize>().ok().and_then(|i| list.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("no element {path} (the list has {})", list.len())),
        },
        _ => Err(format!(
            "no field {path}: its parent is not an object or a list"
        )),
    }
}

/// Removes the field at a JSON pointer.
fn remove(root: &mut Value, path: &str) -> Result<(), String> {
    let parts = pointer_parts(path)?;
    let Some((last, above)) = parts.split_last() else {
        return Err("path \"/\": use op = \"delete\" to delete the object".into());
    };
    let removed = match parent(root, above, path)? {
        Value::Object(map) => map.remove(last).is_some(),
        Value::Array(list) => match last.parse::<usize>() {
            Ok(i) if i < list.len() => {
                list.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(format!("no field {path} to remove"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_set_append_and_remove() {
        let mut pod =
            json!({ "spec": { "containers": [ { "command": ["kube-apiserver", "--a"] } ] } });
        set(&mut pod, "/spec/containers/0/command/1", json!("--b")).unwrap();
        set(&mut pod, "/spec/containers/0/command/-", json!("--c")).unwrap();
        set(&mut pod, "/spec/containers/3/command", json!([])).unwrap_err();
        set(&mut pod, "/spec/nodeName", json!("n1")).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["command"],
            json!(["kube-apiserver", "--b", "--c"])
        );
        remove(&mut pod, "/spec/containers/0/command/0").unwrap();
        assert!(
            remove(&mut pod, "/spec/missing")
                .unwrap_err()
                .contains("no field /spec/missing")
        );
        assert_eq!(pod["spec"]["nodeName"], "n1");
    }
}
