//! `check = "version"`: the server's version is at least a `major.minor`.

use super::{CheckToml, Parsing};

/// The keys a version check reads.
pub(super) const KEYS: &[&str] = &["at_least"];

/// The server's version is at least this `major.minor`.
#[derive(Debug, Clone)]
pub struct VersionCheck {
    /// Minimum `(major, minor)`.
    pub at_least: (u32, u32),
}

/// Validates a version check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<VersionCheck> {
    let Some(v) = &toml.at_least else {
        cx.require(false, "at_least");
        return None;
    };
    match parse_minor_version(v.get_ref()) {
        Some(at_least) => Some(VersionCheck { at_least }),
        None => {
            cx.errors.push((
                v.span().start,
                format!(
                    "`{}` is not a version: write MAJOR.MINOR, e.g. \"1.30\"",
                    v.get_ref()
                ),
            ));
            None
        }
    }
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
    fn versions_parse() {
        assert_eq!(parse_minor_version("1.30"), Some((1, 30)));
        assert_eq!(parse_minor_version("v1.29"), Some((1, 29)));
        assert_eq!(parse_minor_version("1"), None);
    }
}
