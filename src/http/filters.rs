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

#[cfg(test)]
mod tests {
    use crate::clock::readable;

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
