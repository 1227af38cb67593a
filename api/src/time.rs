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
    if !(0..=9999).contains(&year) {
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60,
            since.subsec_micros()
        );
        return;
    }
    // Digits pushed directly: this runs for every access-log line, and `write!` with
    // seven padded fields was most of the line's cost.
    let fields = [
        (year.unsigned_abs(), 4, '-'),
        (month.unsigned_abs(), 2, '-'),
        (day.unsigned_abs(), 2, 'T'),
        (rem / 3600, 2, ':'),
        ((rem % 3600) / 60, 2, ':'),
        (rem % 60, 2, '.'),
        (u64::from(since.subsec_micros()), 6, 'Z'),
    ];
    for (value, width, then) in fields {
        push_decimal(out, value, width);
        out.push(then);
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (at most 20).
pub fn push_decimal(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789"[(n % 10) as usize];
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = at.min(digits.len().saturating_sub(width));
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// RFC 3339 text for a store timestamp (milliseconds since the epoch).
pub fn rfc3339_millis(millis: i64) -> String {
    let mut out = String::with_capacity(27);
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    write_rfc3339(&mut out, at);
    out
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether `s` is a calendar date `YYYY-MM-DD` (a real month and day).
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_rfc3339_millis(s).is_some()
}

/// Milliseconds since the epoch from `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or a
/// bare date `YYYY-MM-DD` (midnight UTC). `None` for anything else.
pub fn parse_rfc3339_millis(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(range)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > month_days[usize::try_from(month - 1).ok()?] {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = std::str::from_utf8(&b[start..i.min(start + 3)]).ok()?;
        millis = frac.parse::<i64>().ok()? * 10_i64.pow(3 - u32::try_from(frac.len()).ok()?);
    }
    let offset_secs = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) if rest.len() == 5 && rest[2] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some((days * 86_400 + h * 3600 + m * 60 + sec - offset_secs) * 1000 + millis)
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
        assert_eq!(
            rfc3339_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999000Z"
        );
        let mut far = String::new();
        write_rfc3339(&mut far, UNIX_EPOCH + Duration::from_secs(253_402_300_800));
        assert_eq!(far, "10000-01-01T00:00:00.000000Z");
    }

    #[test]
    fn decimals_are_padded_to_their_width() {
        let cases = [
            (0, 0, "0"),
            (0, 2, "00"),
            (7, 4, "0007"),
            (12_345, 2, "12345"),
            (u64::MAX, 0, "18446744073709551615"),
            (u64::MAX, 25, "18446744073709551615"),
        ];
        for (n, width, text) in cases {
            let mut out = String::from("x");
            push_decimal(&mut out, n, width);
            assert_eq!(out, format!("x{text}"), "{n} at width {width}");
        }
    }

    #[test]
    fn parses_what_it_formats_and_telnyx_sends() {
        for millis in [0, 951_782_400_000, 1_795_488_292_278, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_millis(&rfc3339_millis(millis)), Some(millis));
        }
        assert_eq!(
            parse_rfc3339_millis("2018-02-02T22:25:27.521992Z"),
            Some(1_517_610_327_521)
        );
        assert_eq!(
            parse_rfc3339_millis("2018-02-02T23:25:27+01:00"),
            Some(1_517_610_327_000)
        );
        assert_eq!(parse_rfc3339_millis("2024-02-29"), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00",
            "yesterday",
            "2024-01-01T00:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }
}
