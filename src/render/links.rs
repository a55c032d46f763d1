//! Resolves links written in course Markdown: relative paths as they work in a git forge's preview
//! (`../02-networking/module.md#services`, `images/ha.png`) become site URLs, and dead ones become errors.

use std::collections::{HashMap, HashSet};

use crate::content::{Course, ModuleId};

/// What a link in Markdown points to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Another site (`https:`, `mailto:`): left as written.
    External,
    /// A module page, with its site URL.
    Page(String),
    /// A course file (image, download), by its path in the course.
    Asset(String),
    /// An anchor, checked once every page is rendered; `module` is `None` for the same page.
    Anchor {
        module: Option<ModuleId>,
        fragment: String,
        url: String,
    },
}

/// The course's linkable places, gathered before any Markdown is rendered.
#[derive(Debug)]
pub(crate) struct LinkResolver {
    modules: HashMap<String, ModuleId>,
    files: HashSet<String>,
}

/// URL prefix under which course assets (images, downloads) are served.
pub(crate) const FILES_PREFIX: &str = "/files/";

/// Whether a file is (or is a copy of) a course source, in any spelling: `questions.toml` holds model
/// answers, and editors leave `questions.toml~`, `module.md.bak`, `#module.md#` behind. Such files
/// cannot be linked, so they never become assets.
pub(crate) fn is_source_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    name.split('.')
        .skip(1)
        .any(|extension| matches!(extension.trim_end_matches(['~', '#']), "md" | "toml"))
}

impl LinkResolver {
    pub(crate) fn new(course: &Course) -> Self {
        Self {
            modules: course
                .modules
                .iter()
                .map(|m| (m.dir.clone(), m.id.clone()))
                .collect(),
            files: course.files.paths().map(str::to_owned).collect(),
        }
    }

    /// Resolves `dest` as written in `from_file`; the error says what is wrong with it.
    pub(crate) fn resolve(&self, from_file: &str, dest: &str) -> Result<Resolved, String> {
        if dest.is_empty() {
            return Err("empty link target".to_owned());
        }
        if has_scheme(dest) || dest.starts_with("//") {
            return Ok(Resolved::External);
        }
        let (path, fragment) = match dest.split_once('#') {
            Some((p, f)) => (p, Some(f.to_owned())),
            None => (dest, None),
        };
        if path.is_empty() {
            let fragment = fragment.unwrap_or_default();
            let url = format!("#{fragment}");
            return Ok(Resolved::Anchor {
                module: None,
                fragment,
                url,
            });
        }
        if path.starts_with('/') {
            return Err(format!(
                "link `{dest}` is absolute: link to course files with relative paths, e.g. ../02-networking/module.md"
            ));
        }
        let base = from_file.rsplit_once('/').map_or("", |(dir, _)| dir);
        let target = normalize(base, path)
            .ok_or_else(|| format!("link `{dest}` points outside the course folder"))?;
        let dir = target.strip_suffix("/module.md").unwrap_or(&target);
        if let Some(id) = self.modules.get(dir) {
            let url = format!("/modules/{id}");
            return Ok(match fragment {
                Some(fragment) => Resolved::Anchor {
                    module: Some(id.clone()),
                    url: format!("{url}#{fragment}"),
                    fragment,
                },
                None => Resolved::Page(url),
            });
        }
        if !self.files.contains(&target) {
            return Err(format!("link to missing file `{target}`"));
        }
        if is_source_file(&target) {
            return Err(format!(
                "link to `{target}`: link to a module's module.md (or its folder) or to an asset such as an image"
            ));
        }
        Ok(Resolved::Asset(target))
    }
}

fn has_scheme(dest: &str) -> bool {
    match dest.split_once(':') {
        Some((scheme, _)) => {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        }
        None => false,
    }
}

/// Joins `path` onto `base` and folds `.` and `..`; `None` if it climbs above the course folder.
fn normalize(base: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> LinkResolver {
        LinkResolver {
            modules: [("modules/01-a".to_owned(), ModuleId::parse("a").unwrap())].into(),
            files: [
                "modules/01-a/module.md",
                "modules/01-a/img/x.png",
                "modules/01-a/questions.toml",
            ]
            .map(str::to_owned)
            .into(),
        }
    }

    #[test]
    fn external_links_are_left_alone() {
        let r = resolver();
        for dest in ["https://kubernetes.io", "mailto:a@b.c", "//cdn.example"] {
            assert_eq!(
                r.resolve("modules/01-a/module.md", dest),
                Ok(Resolved::External)
            );
        }
    }

    #[test]
    fn module_links_become_pages_and_anchors() {
        let r = resolver();
        assert_eq!(
            r.resolve("modules/01-a/lab/01-x.md", "../module.md"),
            Ok(Resolved::Page("/modules/a".into()))
        );
        assert_eq!(
            r.resolve("modules/01-a/module.md", "../01-a/"),
            Ok(Resolved::Page("/modules/a".into()))
        );
        assert_eq!(
            r.resolve("modules/01-a/module.md", "#lab"),
            Ok(Resolved::Anchor {
                module: None,
                fragment: "lab".into(),
                url: "#lab".into()
            })
        );
        assert!(matches!(
            r.resolve("modules/01-a/module.md", "module.md#x"),
            Ok(Resolved::Anchor {
                module: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn assets_are_served_and_sources_are_not() {
        let r = resolver();
        assert_eq!(
            r.resolve("modules/01-a/module.md", "img/x.png"),
            Ok(Resolved::Asset("modules/01-a/img/x.png".into()))
        );
        assert!(
            r.resolve("modules/01-a/module.md", "questions.toml")
                .unwrap_err()
                .contains("questions.toml")
        );
    }

    #[test]
    fn sources_are_recognised_in_any_spelling_and_backup_name() {
        for source in [
            "m/questions.toml",
            "m/questions.TOML",
            "m/questions.toml~",
            "m/questions.toml.bak",
            "m/module.md.orig",
            "m/#module.md#",
            "course.Toml",
        ] {
            assert!(is_source_file(source), "{source}");
        }
        for asset in [
            "m/img/ha.png",
            "m/manifests/pod.yaml",
            "m/mdbook.svg",
            "m/toml",
        ] {
            assert!(!is_source_file(asset), "{asset}");
        }
    }

    #[test]
    fn dead_links_are_errors() {
        let r = resolver();
        assert_eq!(
            r.resolve("modules/01-a/module.md", "img/y.png")
                .unwrap_err(),
            "link to missing file `modules/01-a/img/y.png`"
        );
        assert!(
            r.resolve("modules/01-a/module.md", "../../../etc/passwd")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            r.resolve("modules/01-a/module.md", "/modules/a")
                .unwrap_err()
                .contains("absolute")
        );
    }
}
