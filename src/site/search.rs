//! Search over the course: every section of every module page (the reading's headings, each lab
//! step, each question) indexed once when the site is built, so a query is answered from memory,
//! on an air-gapped server too.
//!
//! A small inverted index rather than a search engine crate: a course is a few hundred sections,
//! and what a learner types is a command, a flag or a component's name. Words are runs of letters
//! and digits, lowercased (`kube-apiserver` is `kube` and `apiserver`); every word of a query must
//! occur in a section (the last may be the start of a word, as people type), headings count three
//! times, and rarer words weigh more.

use std::collections::{BTreeMap, HashMap};

use crate::render::{RenderedModule, escape};

/// At most this many results are shown.
pub const MOST_RESULTS: usize = 20;

/// Characters of context around the first match.
const SNIPPET_CHARS: usize = 180;

/// The index of one build of the course.
#[derive(Debug, Default)]
pub struct SearchIndex {
    sections: Vec<Section>,
    /// word → (section, weight: 3 per heading occurrence, 1 per body occurrence)
    words: BTreeMap<String, Vec<(usize, u32)>>,
}

/// One searchable part of a module page.
#[derive(Debug)]
struct Section {
    module: String,
    module_title: String,
    anchor: String,
    heading: String,
    text: String,
}

/// A section that matched a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Where it is: `/modules/ID#anchor`.
    pub url: String,
    /// The module's title.
    pub module_title: String,
    /// The section's heading.
    pub heading: String,
    /// Text around the first match, as HTML: escaped, the query's words in `<mark>`.
    pub snippet_html: String,
}

impl SearchIndex {
    /// Indexes every module page.
    pub fn build(modules: &[RenderedModule]) -> Self {
        let mut index = Self::default();
        for module in modules {
            for (anchor, heading, text) in sections(&module.html) {
                let id = index.sections.len();
                let mut weights: HashMap<String, u32> = HashMap::new();
                for word in words(&heading) {
                    *weights.entry(word).or_default() += 3;
                }
                for word in words(&text) {
                    *weights.entry(word).or_default() += 1;
                }
                for (word, weight) in weights {
                    index.words.entry(word).or_default().push((id, weight));
                }
                index.sections.push(Section {
                    module: module.id.to_string(),
                    module_title: module.title.clone(),
                    anchor,
                    heading,
                    text,
                });
            }
        }
        index
    }

    /// The sections holding every word of `query`, best first.
    pub fn search(&self, query: &str) -> Vec<Hit> {
        let terms = words(query);
        let Some(last) = terms.len().checked_sub(1) else {
            return Vec::new();
        };
        let mut scores: Option<HashMap<usize, f64>> = None;
        for (i, term) in terms.iter().enumerate() {
            // The last word may be unfinished: every word it starts counts.
            let postings: Vec<&(usize, u32)> = if i == last {
                self.words
                    .range(term.clone()..)
                    .take_while(|(word, _)| word.starts_with(term.as_str()))
                    .flat_map(|(_, postings)| postings)
                    .collect()
            } else {
                self.words.get(term).into_iter().flatten().collect()
            };
            let mut found: HashMap<usize, f64> = HashMap::new();
            let rarity = (1.0 + self.sections.len() as f64 / (1.0 + postings.len() as f64)).ln();
            for (section, weight) in postings {
                *found.entry(*section).or_default() += f64::from(*weight) * rarity;
            }
            scores = Some(match scores {
                None => found,
                Some(before) => before
                    .into_iter()
                    .filter_map(|(section, score)| Some((section, score + found.get(&section)?)))
                    .collect(),
            });
        }
        let mut ranked: Vec<(usize, f64)> = scores.unwrap_or_default().into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(MOST_RESULTS)
            .map(|(id, _)| {
                let section = &self.sections[id];
                Hit {
                    url: if section.anchor.is_empty() {
                        format!("/modules/{}", section.module)
                    } else {
                        format!("/modules/{}#{}", section.module, section.anchor)
                    },
                    module_title: section.module_title.clone(),
                    heading: section.heading.clone(),
                    snippet_html: snippet(&section.text, &terms),
                }
            })
            .collect()
    }
}

/// Lowercased runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A page's sections: (anchor, heading text, body text), split at each `<h2>`–`<h4>` that has an
/// `id`; what comes before the first belongs to the page itself (anchor empty).
fn sections(html: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut anchor = String::new();
    let mut heading = String::new();
    let mut rest = html;
    loop {
        let next = ["<h2 id=\"", "<h3 id=\"", "<h4 id=\""]
            .iter()
            .filter_map(|tag| rest.find(tag).map(|at| (at, *tag)))
            .min_by_key(|(at, _)| *at);
        let body_end = next.map_or(rest.len(), |(at, _)| at);
        let text = plain_text(&rest[..body_end]);
        if !text.trim().is_empty() || !heading.is_empty() {
            found.push((anchor.clone(), heading.clone(), text));
        }
        let Some((at, tag)) = next else { break };
        let after = &rest[at + tag.len()..];
        let Some(quote) = after.find('"') else { break };
        anchor = after[..quote].to_owned();
        let level = &tag[1..3];
        let close = format!("</{level}>");
        let (Some(open_end), Some(end)) = (after.find('>'), after.find(&close)) else {
            break;
        };
        heading = plain_text(&after[(open_end + 1).min(end)..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// Tags inside a line of text, which separate no words.
const INLINE_TAGS: &[&str] = &[
    "a", "code", "em", "strong", "span", "kbd", "mark", "sub", "sup",
];

/// The text of some HTML: tags dropped (a block's boundary is a space, an inline tag's nothing),
/// entities decoded, spaces collapsed.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let tag = &rest[open + 1..];
        let Some(close) = tag.find('>') else {
            rest = "";
            break;
        };
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if !INLINE_TAGS.contains(&name.to_ascii_lowercase().as_str()) {
            text.push(' ');
        }
        rest = &tag[close + 1..];
    }
    text.push_str(rest);
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text around the first word of the query that occurs, escaped, with every query word marked.
fn snippet(text: &str, terms: &[String]) -> String {
    let lower = text.to_lowercase();
    let first = terms
        .iter()
        .filter_map(|t| lower.find(t.as_str()))
        .min()
        .unwrap_or(0);
    // Lowercasing keeps byte offsets for ASCII; elsewhere fall back to the start.
    let first = if lower.len() == text.len() { first } else { 0 };
    let start = text[..first]
        .char_indices()
        .rev()
        .nth(SNIPPET_CHARS / 3)
        .map_or(0, |(i, _)| i);
    let end = text[start..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(text.len(), |(i, _)| start + i);
    let piece = &text[start..end];
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let piece_lower = piece.to_lowercase();
    let mut at = 0;
    while at < piece.len() {
        let matched = (piece_lower.len() == piece.len())
            .then(|| {
                terms
                    .iter()
                    .filter(|t| piece_lower[at..].starts_with(t.as_str()))
                    .map(|t| {
                        // A word typed in part is marked whole.
                        let tail = &piece[at + t.len()..];
                        t.len()
                            + tail
                                .find(|c: char| !c.is_alphanumeric())
                                .unwrap_or(tail.len())
                    })
                    .max()
            })
            .flatten()
            .filter(|_| at == 0 || !piece[..at].ends_with(char::is_alphanumeric));
        match matched {
            Some(len) => {
                out.push_str("<mark>");
                out.push_str(&escape(&piece[at..at + len]));
                out.push_str("</mark>");
                at += len;
            }
            None => {
                let c = piece[at..].chars().next().unwrap_or(' ');
                out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
                at += c.len_utf8();
            }
        }
    }
    if end < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_at_headings_with_their_anchors() {
        let html = "<p>Intro &amp; more</p><h2 id=\"lab\"><a class=\"anchor\" href=\"#lab\">Lab: HA</a></h2><p>Run <code>etcdutl</code>.</p><h3 id=\"step-7\"><a href=\"#step-7\"><span>Step 7</span> Restore</a></h3><p>x</p>";
        let found = sections(html);
        assert_eq!(
            found[0],
            (String::new(), String::new(), "Intro & more".to_owned())
        );
        assert_eq!(
            found[1],
            (
                "lab".to_owned(),
                "Lab: HA".to_owned(),
                "Run etcdutl.".to_owned()
            )
        );
        assert_eq!(found[2].0, "step-7");
        assert_eq!(found[2].1, "Step 7 Restore");
    }

    #[test]
    fn snippets_mark_the_words_and_escape_the_rest() {
        let marked = snippet(
            "Restore with etcdutl <snapshot> then restart",
            &["etcdutl".to_owned()],
        );
        assert_eq!(
            marked,
            "Restore with <mark>etcdutl</mark> &lt;snapshot&gt; then restart"
        );
    }
}
