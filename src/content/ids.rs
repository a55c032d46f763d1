//! Identifiers authors choose (module, lab, step, question), parsed once so the rest of the code can trust them.

use std::fmt;

/// Why a string is not a valid identifier.
const ID_RULE: &str = "ids use lowercase letters, digits and single hyphens, starting with a letter (e.g. `ha-cluster`)";

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts `lowercase-words-and-digits`; the error explains the rule.
            pub fn parse(raw: &str) -> Result<Self, String> {
                parse_id(raw).map(|s| Self(s.to_owned()))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A module's id, its URL segment (`/modules/cluster-architecture`).
    ModuleId
);
id_type!(
    /// A lab's id, used by `lectern lab check LAB`.
    LabId
);
id_type!(
    /// A lab step's id, unique within its lab.
    StepId
);
id_type!(
    /// An assessment question's id, unique within its module.
    QuestionId
);

fn parse_id(raw: &str) -> Result<&str, String> {
    let valid = raw.len() <= 64
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && !raw.ends_with('-')
        && !raw.contains("--")
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(raw)
    } else {
        Err(format!("`{raw}` is not a valid id: {ID_RULE}"))
    }
}

/// Splits an ordered folder or file name such as `01-cluster-architecture` into its number and id.
pub(super) fn split_numbered(name: &str) -> Result<(u32, &str), String> {
    let (number, rest) = name
        .split_once('-')
        .ok_or_else(|| format!("`{name}` should be named NN-name, e.g. `01-{name}`"))?;
    let number = number
        .parse::<u32>()
        .map_err(|_| format!("`{name}` should start with its number, e.g. `01-{rest}`"))?;
    parse_id(rest)?;
    Ok((number, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kebab_case() {
        assert!(ModuleId::parse("cluster-architecture").is_ok());
        assert!(StepId::parse("step2").is_ok());
    }

    #[test]
    fn rejects_what_would_break_urls_or_confuse_authors() {
        for bad in ["", "Cluster", "2fast", "a_b", "a--b", "a-", "a b", "ä"] {
            assert!(ModuleId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn numbered_names_split() {
        assert_eq!(
            split_numbered("01-cluster-architecture"),
            Ok((1, "cluster-architecture"))
        );
        assert!(split_numbered("cluster").is_err());
        assert!(split_numbered("x1-cluster").is_err());
        assert!(split_numbered("01-Cluster").is_err());
    }
}
