//! Server-side syntax highlighting: code blocks leave the server as classed spans, so pages need no
//! highlighter script and the CSP needs no inline styles.

use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// CSS classes are prefixed so grammar scopes (`hl-keyword`) cannot collide with the site's own classes.
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// The loaded grammars; built once per process because loading them is the slow part.
pub struct Highlighter {
    syntaxes: SyntaxSet,
}

impl Default for Highlighter {
    fn default() -> Self {
        Self {
            syntaxes: SyntaxSet::load_defaults_newlines(),
        }
    }
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Highlighter")
    }
}

impl Highlighter {
    /// Highlights `code` as `lang`; `None` when the language is unknown (the caller shows plain text).
    pub fn highlight(&self, lang: &str, code: &str) -> Option<String> {
        let lang = lang.to_ascii_lowercase();
        let token = match lang.as_str() {
            "sh" | "shell" | "console" | "zsh" => "bash",
            "yml" => "yaml",
            "golang" => "go",
            "rust" => "rs",
            other => other,
        };
        self.by_token(token, code)
    }

    fn by_token(&self, token: &str, code: &str) -> Option<String> {
        let syntax = self.syntaxes.find_syntax_by_token(token)?;
        let mut html =
            ClassedHTMLGenerator::new_with_class_style(syntax, &self.syntaxes, CLASS_STYLE);
        for line in LinesWithEndings::from(code) {
            html.parse_html_for_line_which_includes_newline(line).ok()?;
        }
        Some(html.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_languages_are_highlighted() {
        let h = Highlighter::default();
        for (lang, code) in [
            ("bash", "kubectl get nodes # list\n"),
            ("yaml", "kind: Pod\n"),
            ("json", "{\"a\": 1}\n"),
            ("go", "func main() {}\n"),
            ("rust", "fn main() {}\n"),
        ] {
            let html = h
                .highlight(lang, code)
                .unwrap_or_else(|| panic!("{lang} not highlighted"));
            assert!(html.contains("<span class=\"hl-"), "{lang}: {html}");
        }
    }

    #[test]
    fn code_is_escaped() {
        let html = Highlighter::default()
            .highlight("bash", "echo '<script>'\n")
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn unknown_languages_are_left_to_the_caller() {
        assert!(Highlighter::default().highlight("klingon", "x\n").is_none());
    }
}
