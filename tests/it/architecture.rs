//! ARCHITECTURE.md's rules, checked on the source: no two files import each other in a loop, and
//! imports run one way (no domain reaches up to HTTP, the app or the CLI; `content` imports nothing
//! of Lectern's; `assess` never reads `progress` or `reports`).
//!
//! The check reads `use` declarations and `crate::`/`super::` paths in code, resolves each to the
//! file that defines the module it names, and ignores a module's edges to its own ancestors (a
//! `mod.rs` declares its children, and they use what it declares).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each source file's module path (`auth::store`; the crate root is empty) and its text.
fn source_files() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, files: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src()).unwrap().with_extension("");
                let mut module: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                if module.first().is_some_and(|m| m == "bin") {
                    continue;
                }
                files.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&src(), &mut files);
    files
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The text without comments and string literals, so that only code is read.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path a file names: each `use` tree expanded, and `crate::…`/`super::…` paths in code.
fn named_paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let base = format!("{prefix}{}", &tree[..open]);
                let inner = &tree[open + 1..tree.len() - 1];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&base, &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                expand(&base, &inner[start..], out);
            }
            _ if !tree.is_empty() => {
                let path = tree.split(" as ").next().unwrap_or(tree).trim();
                out.push(format!("{prefix}{path}"));
            }
            _ => {}
        }
    }
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let starts_word =
            at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if starts_word {
            expand("", &tail[..end], &mut paths);
        }
        rest = &tail[end.min(tail.len())..];
    }
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let starts_word = at == 0
                || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let path = tail[..end].trim_end_matches(':');
            if starts_word && path.contains("::") {
                paths.push(path.to_owned());
            }
            rest = &tail[end.max(1)..];
        }
    }
    paths
}

/// The file (module path) a path resolves to from `module`, if it names one of Lectern's.
fn resolve(
    module: &[String],
    path: &str,
    files: &BTreeMap<Vec<String>, String>,
) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super") => {
            // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a) it is the root.
            let mut base = module.to_vec();
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop();
            }
            base
        }
        Some(&"self") => {
            segments.remove(0);
            module.to_vec()
        }
        _ => return None,
    };
    let mut found = None;
    for segment in segments {
        base.push(segment.to_owned());
        if files.contains_key(&base) {
            found = Some(base.clone());
        } else {
            break;
        }
    }
    found
}

/// Imports between files, a module's edges to its ancestors and descendants left out.
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = source_files();
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let mut targets = BTreeSet::new();
        for path in named_paths(&code_only(text)) {
            if let Some(target) = resolve(module, &path, &files)
                && !target.starts_with(module)
                && !module.starts_with(&target)
            {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn no_two_files_import_each_other_in_a_loop() {
    let graph = imports();
    let auth_store = vec!["auth".to_owned(), "store".to_owned()];
    assert!(
        graph[&vec!["auth".to_owned(), "identity".to_owned()]].contains(&auth_store),
        "the graph was read: identity uses auth's store"
    );
    let name = |m: &Vec<String>| m.join("::");
    let mut cycles = Vec::new();
    // Depth-first search from every file; a path back to where it started is a loop.
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in &graph[&at] {
                if next == start {
                    let mut loop_: Vec<String> = path.iter().map(name).collect();
                    loop_.push(name(start));
                    cycles.push(loop_.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files import each other in a loop:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn imports_run_one_way() {
    let files = source_files();
    let domains = [
        "labs", "bridge", "progress", "assess", "sso", "lti", "auth", "quota", "reports", "site",
        "render", "content",
    ];
    let mut broken = Vec::new();
    for (module, text) in &files {
        let Some(top) = module.first().map(String::as_str) else {
            continue;
        };
        if !domains.contains(&top) {
            continue;
        }
        let code = code_only(text);
        let paths = named_paths(&code);
        let mut forbidden: Vec<&str> = vec!["axum", "crate::http", "crate::app", "crate::cli"];
        match top {
            "content" => forbidden.push("crate::"),
            "assess" => forbidden.extend(["crate::progress", "crate::reports"]),
            "render" | "site" => forbidden.extend(["crate::labs", "crate::auth", "crate::db"]),
            _ if top != "reports" => forbidden.push("crate::reports"),
            _ => {}
        }
        for path in &paths {
            let own = format!("crate::{top}");
            if let Some(rule) = forbidden.iter().find(|rule| {
                (path == *rule
                    || path.starts_with(&format!("{rule}::"))
                    || (rule.ends_with("::") && path.starts_with(*rule)))
                    && !path.starts_with(&format!("{own}::"))
                    && *path != own
            }) {
                broken.push(format!(
                    "{}: `{path}` ({rule} is not for {top})",
                    module.join("::")
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that run the wrong way:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_import_reader_expands_use_trees_and_skips_comments_and_strings() {
    // The reader itself: a `use` tree with nested braces and an inline path.
    let paths = named_paths(&code_only(
        "use super::{a::{B, C as D}, e};\n// use crate::http::Nope;\nfn f() { crate::app::App::new(\"crate::http\") }",
    ));
    assert_eq!(
        paths,
        [
            "super::a::B",
            "super::a::C",
            "super::e",
            "crate::app::App::new"
        ]
    );
}
