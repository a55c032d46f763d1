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
    let shown = readable(stamp).unwrap_or_else(|| exact.clone());
    Ok(askama::filters::Safe(format!(
        "<time datetime=\"{exact}\" title=\"{exact}\">{shown}</time>"
    )))
}

fn readable(stamp: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, time) = stamp.split_once('T')?;
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let month = MONTHS.get(month.parse::<usize>().ok()?.checked_sub(1)?)?;
    let day: u32 = day.parse().ok()?;
    let hours_minutes = time.get(..5)?;
    if !year.bytes().all(|b| b.is_ascii_digit()) || !hours_minutes.as_bytes()[2].eq(&b':') {
        return None;
    }
    Some(format!("{day} {month} {year}, {hours_minutes} UTC"))
}

#[cfg(test)]
mod tests {
    use super::readable;

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
