//! The Markdown pipeline: one pass over pulldown-cmark's events that
//!
//! 1. gives every heading a unique anchor and records the page's table of contents,
//! 2. highlights fenced code (bash, yaml, json, go, rust, …) and adds a copy button,
//! 3. turns ```` ```mermaid ```` blocks into `<pre class="mermaid">` for the vendored mermaid.js,
//! 4. rewrites relative links to course pages and files and reports the ones that lead nowhere,
//! 5. splits the text at `{{lab}}` / `{{questions}}` directives, where the module page inserts those parts.

use std::collections::{BTreeSet, HashSet};

use pulldown_cmark::{CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::highlight::Highlighter;
use super::links::{FILES_PREFIX, LinkResolver, Resolved};
use crate::content::{Diagnostic, MarkdownSource, ModuleId};

/// Where a module page inserts generated sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    Lab,
    Questions,
}

/// Rendered Markdown, cut at directives: `html[0]`, directive 0, `html[1]`, …
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub(crate) html: Vec<String>,
    /// Each directive, the number of TOC entries before it (where generated headings slot in), and
    /// its byte offset in the source.
    pub(crate) directives: Vec<(Directive, usize, usize)>,
}

/// One entry of a page's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TocEntry {
    /// 2 or 3.
    pub level: u8,
    /// The heading's anchor.
    pub id: String,
    /// The heading's text.
    pub title: String,
}

/// A link to an anchor that can only be checked once every page's headings are known.
#[derive(Debug)]
pub(crate) struct PendingAnchor {
    pub(crate) module: Option<ModuleId>,
    pub(crate) fragment: String,
    pub(crate) at: Diagnostic,
}

/// How a piece of Markdown sits in its page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    /// Added to heading levels so a step's `##` nests under the step's own heading.
    pub(crate) heading_shift: u8,
    /// Whether headings go into the table of contents and directives are allowed (the module text).
    pub(crate) is_module_text: bool,
}

/// State shared by all Markdown of one page: anchors must be unique across the whole page.
#[derive(Debug)]
pub(crate) struct PageBuilder<'a> {
    pub(crate) highlighter: &'a Highlighter,
    pub(crate) links: &'a LinkResolver,
    pub(crate) anchors: HashSet<String>,
    pub(crate) toc: Vec<TocEntry>,
    pub(crate) pending: Vec<PendingAnchor>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) has_diagram: bool,
    /// Course files the page links to or shows: the only ones `/files/` serves.
    pub(crate) assets: BTreeSet<String>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_SMART_PUNCTUATION
}

impl<'a> PageBuilder<'a> {
    pub(crate) fn new(highlighter: &'a Highlighter, links: &'a LinkResolver) -> Self {
        Self {
            highlighter,
            links,
            anchors: HashSet::new(),
            toc: Vec::new(),
            pending: Vec::new(),
            diagnostics: Vec::new(),
            has_diagram: false,
            assets: BTreeSet::new(),
        }
    }

    /// Renders one of Lectern's own templates into the page; a failure (a bug, not the author's
    /// mistake) becomes a diagnostic on `dir`, so a course never loads with a section missing.
    pub(crate) fn render_template(
        &mut self,
        template: &impl askama::Template,
        dir: &str,
    ) -> String {
        template.render().unwrap_or_else(|e| {
            self.diagnostics.push(Diagnostic::in_file(
                dir,
                format!("internal error: a section of this module could not be rendered: {e}"),
            ));
            String::new()
        })
    }

    /// Reserves an anchor derived from `text`, adding `-2`, `-3` … until it is unique on the page.
    pub(crate) fn claim_anchor(&mut self, text: &str) -> String {
        let base = slug(text);
        let mut candidate = base.clone();
        let mut n = 1;
        while !self.anchors.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
        candidate
    }

    /// Renders inline-or-block Markdown that has no directives (steps, prompts, answers).
    pub(crate) fn render(&mut self, source: &MarkdownSource, placement: Placement) -> String {
        self.render_with_directives(source, placement).html.concat()
    }

    /// Renders Markdown, cutting it at directives when `placement.is_module_text`.
    pub(crate) fn render_with_directives(
        &mut self,
        source: &MarkdownSource,
        placement: Placement,
    ) -> Rendered {
        let text = source.text.as_str();
        let mut out = Rendered::default();
        let mut events: Vec<Event<'_>> = Vec::new();
        let mut parser = Parser::new_ext(text, options()).into_offset_iter();
        while let Some((event, range)) = parser.next() {
            match event {
                Event::Start(Tag::Paragraph) => {
                    let raw = text[range.clone()].trim();
                    if let Some(name) = raw.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                        for (e, _) in parser.by_ref() {
                            if matches!(e, Event::End(TagEnd::Paragraph)) {
                                break;
                            }
                        }
                        let directive = match name.trim() {
                            "lab" => Directive::Lab,
                            "questions" => Directive::Questions,
                            other => {
                                self.diagnostics.push(source.diagnostic(range.start, format!("unknown directive `{{{{{other}}}}}`: the directives are {{{{lab}}}} and {{{{questions}}}}")));
                                continue;
                            }
                        };
                        if !placement.is_module_text {
                            self.diagnostics.push(source.diagnostic(
                                range.start,
                                format!("`{raw}` only works in module.md"),
                            ));
                            continue;
                        }
                        out.html.push(html_of(std::mem::take(&mut events)));
                        out.directives
                            .push((directive, self.toc.len(), range.start));
                        continue;
                    }
                    events.push(Event::Start(Tag::Paragraph));
                }
                Event::Start(Tag::Heading {
                    level,
                    id,
                    classes,
                    attrs,
                }) => {
                    let mut inner = Vec::new();
                    let mut title = String::new();
                    for (e, _) in parser.by_ref() {
                        match &e {
                            Event::End(TagEnd::Heading(_)) => break,
                            Event::Text(t) | Event::Code(t) => title.push_str(t),
                            _ => {}
                        }
                        inner.push(e);
                    }
                    if level == HeadingLevel::H1 && placement.is_module_text {
                        self.diagnostics.push(source.diagnostic(range.start, "top-level heading `#`: the page title comes from module.toml, so sections start at `##`"));
                    }
                    let anchor = match id {
                        Some(id) if self.anchors.insert(id.to_string()) => id.to_string(),
                        Some(id) => {
                            self.diagnostics.push(source.diagnostic(
                                range.start,
                                format!("duplicate heading id `{id}` on this page"),
                            ));
                            id.to_string()
                        }
                        None => self.claim_anchor(&title),
                    };
                    let n = (level as u8 + placement.heading_shift).min(6);
                    if placement.is_module_text && (2..=3).contains(&n) {
                        self.toc.push(TocEntry {
                            level: n,
                            id: anchor.clone(),
                            title: title.clone(),
                        });
                    }
                    let class = if classes.is_empty() {
                        String::new()
                    } else {
                        format!(" class=\"{}\"", escape(&classes.join(" ")))
                    };
                    let extra: String = attrs
                        .iter()
                        .map(|(k, v)| {
                            format!(" {}=\"{}\"", escape(k), escape(v.as_deref().unwrap_or("")))
                        })
                        .collect();
                    events.push(Event::Html(
                        format!(
                            "<h{n} id=\"{}\"{class}{extra}><a class=\"anchor\" href=\"#{}\">",
                            escape(&anchor),
                            escape(&anchor)
                        )
                        .into(),
                    ));
                    events.extend(self.links_in(source, inner, range.start));
                    events.push(Event::Html(format!("</a></h{n}>\n").into()));
                }
                Event::Start(Tag::CodeBlock(kind)) => {
                    let mut code = String::new();
                    for (e, _) in parser.by_ref() {
                        match e {
                            Event::End(TagEnd::CodeBlock) => break,
                            Event::Text(t) => code.push_str(&t),
                            _ => {}
                        }
                    }
                    let lang = match &kind {
                        CodeBlockKind::Fenced(info) => {
                            info.split_whitespace().next().unwrap_or("").to_owned()
                        }
                        CodeBlockKind::Indented => String::new(),
                    };
                    events.push(Event::Html(self.code_block(&lang, &code).into()));
                }
                Event::Start(Tag::Table(_)) => {
                    events.push(Event::Html("<div class=\"table-wrap\">".into()));
                    events.push(event);
                }
                Event::End(TagEnd::Table) => {
                    events.push(event);
                    events.push(Event::Html("</div>".into()));
                }
                Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                    events.extend(self.links_in(source, vec![event], range.start));
                }
                other => events.push(other),
            }
        }
        out.html.push(html_of(events));
        out
    }

    /// Rewrites link and image targets in `events`, reporting the broken ones at `offset`.
    fn links_in<'e>(
        &mut self,
        source: &MarkdownSource,
        events: Vec<Event<'e>>,
        offset: usize,
    ) -> Vec<Event<'e>> {
        events
            .into_iter()
            .map(|mut event| {
                if let Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) =
                    &mut event
                {
                    *dest_url = self.resolve(source, dest_url, offset);
                }
                event
            })
            .collect()
    }

    fn resolve(&mut self, source: &MarkdownSource, dest: &str, offset: usize) -> CowStr<'static> {
        match self.links.resolve(&source.file, dest) {
            Ok(Resolved::External) => dest.to_owned().into(),
            Ok(Resolved::Anchor {
                module,
                fragment,
                url,
            }) => {
                self.pending.push(PendingAnchor {
                    module,
                    fragment,
                    at: source.diagnostic(offset, ""),
                });
                url.into()
            }
            Ok(Resolved::Page(url)) => url.into(),
            Ok(Resolved::Asset(path)) => {
                let url = format!("{FILES_PREFIX}{path}");
                self.assets.insert(path);
                url.into()
            }
            Err(message) => {
                self.diagnostics.push(source.diagnostic(offset, message));
                dest.to_owned().into()
            }
        }
    }

    fn code_block(&mut self, lang: &str, code: &str) -> String {
        if lang == "mermaid" {
            self.has_diagram = true;
            return format!("<pre class=\"mermaid\">{}</pre>\n", escape(code));
        }
        let body = if lang.is_empty() {
            None
        } else {
            self.highlighter.highlight(lang, code)
        }
        .unwrap_or_else(|| escape(code));
        let class = if lang.is_empty() {
            String::new()
        } else {
            format!(" class=\"language-{}\"", escape(lang))
        };
        format!(
            "<div class=\"code-block\"><pre><code{class}>{body}</code></pre><button type=\"button\" class=\"copy\" hidden>Copy</button></div>\n"
        )
    }
}

fn html_of(events: Vec<Event<'_>>) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// Escapes text for HTML content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// GitHub-style anchor: lowercase words joined by hyphens, punctuation dropped.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if (c == ' ' || c == '-' || c == '_') && !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "section".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_github() {
        assert_eq!(
            slug("1.2 etcd: the source of truth"),
            "12-etcd-the-source-of-truth"
        );
        assert_eq!(slug("  API server  "), "api-server");
        assert_eq!(slug("???"), "section");
    }

    #[test]
    fn escape_covers_attributes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
