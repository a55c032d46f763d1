//! Assertions on an object's fields (`[[checks.fields]]` of a resource check): a path into the
//! object and what the values it selects must satisfy.

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::CheckError;

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

/// One `[[checks.fields]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FieldToml {
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

impl FieldToml {
    /// A top-level assertion: its path is required.
    pub(super) fn parse(self, table_at: usize) -> Result<FieldAssertion, CheckError> {
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
fn parse_path(text: &str) -> Result<Vec<PathSegment>, String> {
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
}
