//! Writing CSV for people and spreadsheets: RFC 4180 quoting, CRLF line ends.

/// Appends one CSV line (fields quoted when they contain a delimiter, a quote or a
/// line break; quotes doubled) followed by CRLF.
pub fn push_line<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = field.as_ref();
        if f.contains([',', ';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
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
}
