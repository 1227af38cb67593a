//! UTC timestamps as RFC 3339 text, without a date-time dependency: the access log,
//! CSV exports and API answers share this one formatter.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Appends `2026-11-24T02:44:52.278375Z` (microseconds) for `at`.
pub fn write_rfc3339(out: &mut String, at: SystemTime) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    );
}

/// RFC 3339 text for a store timestamp (milliseconds since the epoch).
pub fn rfc3339_millis(millis: i64) -> String {
    let mut out = String::with_capacity(27);
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    write_rfc3339(&mut out, at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_across_leap_years() {
        assert_eq!(
            rfc3339_millis(1_795_488_292_278),
            "2026-11-24T02:44:52.278000Z"
        );
        assert_eq!(
            rfc3339_millis(951_782_400_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000000Z");
    }
}
