//! Filters the staff and learner page templates share (askama looks them up as `filters::name` in
//! the template's module, so each page module imports this one).

/// `2026-11-25T18:37:24.123Z` → `25 Nov 2026, 18:37 UTC`: a stored timestamp as people read it,
/// in a `<time>` element keeping the exact value for machines and on hover. Anything else is shown
/// as it is.
pub(crate) fn when(
    stamp: &str,
    _: &dyn askama::Values,
) -> askama::Result<askama::filters::Safe<String>> {
    let exact = askama::filters::escape(stamp, askama::filters::Html)?.to_string();
    let shown = crate::clock::readable(stamp).unwrap_or_else(|| exact.clone());
    Ok(askama::filters::Safe(format!(
        "<time datetime=\"{exact}\" title=\"{exact}\">{shown}</time>"
    )))
}

/// A message that names things in `backticks` (user names, roles, fields), escaped, with each such
/// name set as code rather than showing the backticks.
pub(crate) fn code_spans(
    text: &str,
    _: &dyn askama::Values,
) -> askama::Result<askama::filters::Safe<String>> {
    let mut html = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        let escaped = askama::filters::escape(part, askama::filters::Html)?.to_string();
        // Odd parts sit between two backticks; a last one left open is plain text.
        let closed = i % 2 == 1 && text.split('`').count() > i + 1;
        if closed {
            html.push_str(&format!("<code>{escaped}</code>"));
        } else if i % 2 == 1 {
            html.push('`');
            html.push_str(&escaped);
        } else {
            html.push_str(&escaped);
        }
    }
    Ok(askama::filters::Safe(html))
}

#[cfg(test)]
mod tests {
    use crate::clock::readable;

    #[test]
    fn backticked_names_become_code_and_everything_is_escaped() {
        let spans = |text: &str| super::code_spans(text, &()).unwrap().0;
        assert_eq!(
            spans("line 2: role `teacher` is not one of `learner`, `instructor`"),
            "line 2: role <code>teacher</code> is not one of <code>learner</code>, <code>instructor</code>"
        );
        assert_eq!(spans("`<b>` & `x"), "<code>&#60;b&#62;</code> &#38; `x");
    }

    #[test]
    fn stored_timestamps_read_as_dates_and_anything_else_is_left_alone() {
        assert_eq!(
            readable("2026-11-05T08:07:24.123Z").as_deref(),
            Some("5 Nov 2026, 08:07 UTC")
        );
        assert_eq!(readable("2026-13-05T08:07:24Z"), None);
        assert_eq!(readable("yesterday"), None);
        assert_eq!(readable("2026-11-05T8"), None);
    }
}
