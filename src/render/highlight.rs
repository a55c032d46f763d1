//! Server-side syntax highlighting: code blocks leave the server as classed spans, so pages need no
//! highlighter script and the CSP needs no inline styles.
//!
//! Each token gets at most one class, the kind of word it is (`hl-keyword`, `hl-string`, …), and
//! neighbouring tokens of one kind share a span. A grammar's full scope stack
//! (`hl-punctuation hl-separator hl-key-value hl-mapping hl-yaml`, nested five deep) would be
//! most of a module page's bytes for the eight colours the stylesheet gives.

use std::str::FromStr;

use syntect::easy::HighlightLines;
use syntect::highlighting::{
    Color, ScopeSelectors, StyleModifier, Theme, ThemeItem, ThemeSettings,
};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// The kinds of word the stylesheet colours, each with the grammar scopes that are that kind.
/// Where several match a token, the most specific selector wins (TextMate's rule: a YAML key is
/// `string.unquoted … entity.name.tag`, so a tag, not a string).
const KINDS: [(&str, &str); 8] = [
    ("comment", "comment, punctuation.definition.comment"),
    ("keyword", "keyword, storage"),
    ("string", "string"),
    ("number", "constant.numeric, constant.language"),
    (
        "function",
        "entity.name.function, support.function, variable.function",
    ),
    (
        "type",
        "entity.name.type, support.type, storage.type, variable.other, variable.parameter",
    ),
    ("tag", "entity.name.tag, support.type.property-name"),
    ("variable", "variable"),
];

/// The loaded grammars; built once per process because loading them is the slow part.
pub struct Highlighter {
    syntaxes: SyntaxSet,
    /// [`KINDS`] as a theme whose "colour" is the kind's number (1-based; 0: no kind), so
    /// syntect's own scope matching decides each token's kind.
    kinds: Theme,
}

impl Default for Highlighter {
    fn default() -> Self {
        let scopes = KINDS
            .iter()
            .zip(1u8..)
            .map(|((_, selectors), number)| ThemeItem {
                scope: ScopeSelectors::from_str(selectors).expect("the kinds' selectors parse"),
                style: StyleModifier {
                    foreground: Some(kind_colour(number)),
                    ..StyleModifier::default()
                },
            })
            .collect();
        Self {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            kinds: Theme {
                settings: ThemeSettings {
                    foreground: Some(kind_colour(0)),
                    ..ThemeSettings::default()
                },
                scopes,
                ..Theme::default()
            },
        }
    }
}

fn kind_colour(number: u8) -> Color {
    Color {
        r: number,
        g: 0,
        b: 0,
        a: 0xff,
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
        let mut lines = HighlightLines::new(syntax, &self.kinds);
        let mut html = String::with_capacity(code.len() * 2);
        let mut open: Option<&str> = None;
        for line in LinesWithEndings::from(code) {
            for (style, text) in lines.highlight_line(line, &self.syntaxes).ok()? {
                let kind = usize::from(style.foreground.r)
                    .checked_sub(1)
                    .and_then(|i| KINDS.get(i))
                    .map(|(name, _)| *name);
                if kind != open && !text.trim().is_empty() {
                    if open.is_some() {
                        html.push_str("</span>");
                    }
                    if let Some(name) = kind {
                        html.push_str("<span class=\"hl-");
                        html.push_str(name);
                        html.push_str("\">");
                    }
                    open = kind;
                }
                escape_into(&mut html, text);
            }
        }
        if open.is_some() {
            html.push_str("</span>");
        }
        Some(html)
    }
}

/// Escapes a token for element content, appended to the block's HTML. Unlike
/// `markdown::escape` (for attributes too), it leaves `'` as it is: shell code is full of them,
/// and `&#39;` for each added 9 KB to module 01's page.
fn escape_into(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            c => html.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_languages_are_highlighted() {
        let h = Highlighter::default();
        for (lang, code, span) in [
            (
                "bash",
                "kubectl get nodes # list\n",
                "<span class=\"hl-comment\"># list",
            ),
            ("yaml", "kind: Pod\n", "<span class=\"hl-tag\">kind</span>"),
            ("json", "{\"a\": 1}\n", "<span class=\"hl-number\">1</span>"),
            ("go", "return nil\n", "<span class=\"hl-keyword\">return"),
            (
                "rust",
                "fn main() {}\n",
                "<span class=\"hl-function\">main</span>",
            ),
        ] {
            let html = h
                .highlight(lang, code)
                .unwrap_or_else(|| panic!("{lang} not highlighted"));
            assert!(html.contains(span), "{lang}: {html}");
        }
    }

    #[test]
    fn a_token_has_one_class_and_neighbours_of_one_kind_share_a_span() {
        let html = Highlighter::default()
            .highlight("bash", "# one comment, in one span\n# and the next line\n")
            .unwrap();
        assert_eq!(
            html,
            "<span class=\"hl-comment\"># one comment, in one span\n# and the next line\n</span>"
        );
    }

    #[test]
    fn the_text_is_kept_whole() {
        let code = "kubectl -n kube-system get pods -l 'tier=control-plane' | grep -v \"x\" && echo $HOME\n";
        let html = Highlighter::default().highlight("bash", code).unwrap();
        let text = text_of(&html);
        assert_eq!(text, code);
    }

    /// The text of highlighted HTML: tags dropped, the four escapes undone.
    fn text_of(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
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
