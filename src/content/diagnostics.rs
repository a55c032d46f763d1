//! Authoring errors that point at a file, line and column, collected rather than stopping at the first.

use std::fmt;

/// One authoring mistake, located so an editor can jump to it (`file:line:column: message`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Path of the file, relative to the course folder.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// Locates `offset` (a byte index into `text`, the whole file) as line and column.
    pub fn at(file: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// For mistakes that belong to a file as a whole (a missing file, an unreadable one).
    pub fn in_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: 1,
            column: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// 1-based line and column of a byte offset; offsets past the end point at the last position.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A course that failed validation: every mistake found, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_list(.0))]
pub struct InvalidCourse(pub Vec<Diagnostic>);

fn render_list(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let n = diagnostics.len();
    out.push_str(&format!("{n} error{}", if n == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4));
        assert_eq!(line_column(text, 8), (3, 1));
        assert_eq!(line_column(text, 99), (3, 2));
    }

    #[test]
    fn display_is_editor_friendly() {
        let d = Diagnostic::at("m/module.toml", "a = 1\nb = 2\n", 6, "unknown key `b`");
        assert_eq!(d.to_string(), "m/module.toml:2:1: unknown key `b`");
    }
}
