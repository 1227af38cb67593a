//! One JSON line per request, like pino-http: request id, method, path, status, bytes,
//! duration, client IP, user agent, route class. Query values whose name suggests a
//! secret are redacted; Authorization and cookies are never logged. Probes (health,
//! readiness, metrics) are logged at debug level only.
//!
//! The line has the same shape as every other log line (`timestamp`, `level`,
//! `message`, fields, `target`) but is formatted here by hand and written straight to
//! the log stream: on the API path this is a quarter of the request cost otherwise.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use agent5_api::time::push_decimal;

use crate::filters::request_id::HEX_DIGITS;

const SECRET_HINTS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "signature",
    "auth",
    "jwt",
];

pub struct Entry<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
    pub client_ip: IpAddr,
    pub user_agent: Option<&'a str>,
    pub route: &'static str,
    pub tls: bool,
}

pub fn emit(e: &Entry<'_>, probe: bool) {
    let enabled = if probe {
        tracing::enabled!(target: "access", tracing::Level::DEBUG)
    } else {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    };
    if enabled {
        crate::logging::write_line(format_line(e, probe, SystemTime::now()).as_bytes());
    }
}

/// The JSON line for `e`, newline-terminated.
pub fn format_line(e: &Entry<'_>, probe: bool, now: SystemTime) -> String {
    let mut out = String::with_capacity(320);
    out.push_str("{\"timestamp\":\"");
    agent5_api::time::write_rfc3339(&mut out, now);
    out.push_str(if probe {
        "\",\"level\":\"DEBUG\""
    } else {
        "\",\"level\":\"INFO\""
    });
    out.push_str(",\"message\":\"request\",\"request_id\":");
    json_str(&mut out, e.request_id);
    out.push_str(",\"method\":");
    json_str(&mut out, e.method);
    out.push_str(",\"path\":");
    match e.query {
        Some(q) if !q.is_empty() => json_str(&mut out, &format!("{}?{}", e.path, redact_query(q))),
        _ => json_str(&mut out, e.path),
    }
    let micros = u64::try_from(e.duration.as_micros()).unwrap_or(u64::MAX);
    out.push_str(",\"status\":");
    push_decimal(&mut out, u64::from(e.status), 0);
    out.push_str(",\"bytes\":");
    push_decimal(&mut out, e.bytes, 0);
    out.push_str(",\"duration_ms\":");
    push_decimal(&mut out, micros / 1000, 0);
    out.push('.');
    push_decimal(&mut out, micros % 1000, 3);
    out.push_str(",\"client_ip\":\"");
    push_ip(&mut out, e.client_ip);
    out.push_str("\",\"user_agent\":");
    json_str(&mut out, e.user_agent.unwrap_or(""));
    out.push_str(",\"route\":");
    json_str(&mut out, e.route);
    out.push_str(if e.tls {
        ",\"tls\":true"
    } else {
        ",\"tls\":false"
    });
    out.push_str(",\"target\":\"access\"}\n");
    out
}

/// `s` as a JSON string: runs of plain text are copied whole, only quotes,
/// backslashes and control characters escaped.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[plain..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
                out.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
            }
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet), 0);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Replaces the values of secret-looking query parameters with `[redacted]`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = name.to_ascii_lowercase();
            if !value.is_empty() && SECRET_HINTS.iter().any(|h| lower.contains(h)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn line_is_json_with_every_field() {
        let e = Entry {
            request_id: "r-1",
            method: "GET",
            path: "/api/x",
            query: Some("token=abc&page=1"),
            status: 200,
            bytes: 42,
            duration: Duration::from_micros(1_234),
            client_ip: "192.0.2.1".parse().expect("ip"),
            user_agent: Some("curl \"quoted\"\u{1}"),
            route: "api",
            tls: true,
        };
        // 2026-11-24T02:44:52.278375Z
        let at = UNIX_EPOCH + Duration::from_micros(1_795_488_292_278_375);
        let line = format_line(&e, false, at);
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["timestamp"], "2026-11-24T02:44:52.278375Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "access");
        assert_eq!(v["path"], "/api/x?token=[redacted]&page=1");
        assert_eq!(v["duration_ms"], 1.234);
        assert_eq!(v["user_agent"], "curl \"quoted\"\u{1}");
        assert_eq!(v["client_ip"], "192.0.2.1");
        assert_eq!(v["tls"], true);
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(
            format_line(&e, true, leap).contains("\"timestamp\":\"2000-02-29T00:00:00.000000Z\"")
        );
    }

    #[test]
    fn every_string_and_address_survives_a_json_parser() {
        let texts = [
            "",
            "plain",
            "\"",
            "\\",
            "a\"b\\c\u{0}d\u{1f}e\u{7f}",
            "\u{e9}t\u{e9} \u{1f4de}\n\t",
            "ends with \\",
        ];
        for text in texts {
            let mut out = String::new();
            json_str(&mut out, text);
            let back: String = serde_json::from_str(&out).expect("valid JSON string");
            assert_eq!(back, text, "{out}");
        }
        for ip in [
            "0.0.0.0",
            "192.0.2.1",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:192.0.2.9",
        ] {
            let mut out = String::new();
            push_ip(&mut out, ip.parse().expect("ip"));
            assert_eq!(out, ip);
        }
    }

    #[test]
    fn secrets_in_query_are_redacted() {
        assert_eq!(
            redact_query("room=call-1&token=abc&api_key=x&Secret=y&lang=nl&x"),
            "room=call-1&token=[redacted]&api_key=[redacted]&Secret=[redacted]&lang=nl&x"
        );
        assert_eq!(redact_query("page=2"), "page=2");
    }
}
