//! The clock, in the forms Lectern computes and writes it: Unix seconds or milliseconds for
//! arithmetic (token lifetimes, throttles, queues), RFC 3339 for people and protocols, and the
//! database's timestamp text, the one way every table stores a time. One leaf module, so that no
//! domain borrows another's clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How the database writes a time: UTC with milliseconds, what SQLite's
/// `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')` and PostgreSQL's `lectern_now()` give. Fixed width, so
/// comparing two as text compares the times, on both backends.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// The current time as the database writes timestamps, bound from Rust so one SQL text serves
/// both backends.
pub fn timestamp_now() -> String {
    chrono::Utc::now().format(TIMESTAMP_FORMAT).to_string()
}

/// Unix milliseconds as the database's timestamp text (times before 1970 or after 9999 are
/// clamped to those years, keeping the text's width).
pub fn timestamp_of_millis(millis: i64) -> String {
    let clamped = millis.clamp(0, 253_402_300_799_999);
    chrono::DateTime::from_timestamp_millis(clamped)
        .unwrap_or_default()
        .format(TIMESTAMP_FORMAT)
        .to_string()
}

/// Unix seconds as the database's timestamp text.
pub fn timestamp_of_seconds(secs: i64) -> String {
    timestamp_of_millis(secs.saturating_mul(1000))
}

/// The database's timestamp text as Unix milliseconds (0 for text that is not a timestamp).
pub fn millis_of_timestamp(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp_millis())
}

/// The database's timestamp text as Unix seconds (0 for text that is not a timestamp).
pub fn seconds_of_timestamp(text: &str) -> i64 {
    millis_of_timestamp(text).div_euclid(1000)
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-11-25T16:40:00Z`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `2026-11-25T18:37:24.123Z` → `25 Nov 2026, 18:37 UTC`: a stored timestamp as people read it
/// (pages, grade comments); `None` for anything else.
pub fn readable(stamp: &str) -> Option<String> {
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
    use super::*;

    #[test]
    fn unix_seconds_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_624_800), "2026-11-25T16:40:00Z");
    }

    #[test]
    fn database_timestamps_keep_their_width_and_read_back() {
        assert_eq!(timestamp_of_seconds(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp_of_millis(1_795_624_800_123),
            "2026-11-25T16:40:00.123Z"
        );
        assert_eq!(timestamp_of_seconds(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp_of_seconds(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            millis_of_timestamp("2026-11-25T16:40:00.123Z"),
            1_795_624_800_123
        );
        assert!((seconds_of_timestamp(&timestamp_now()) - unix_seconds()).abs() <= 1);
        assert_eq!(millis_of_timestamp("soon"), 0);
        assert!(timestamp_of_seconds(99) < timestamp_of_seconds(100));
    }
}
