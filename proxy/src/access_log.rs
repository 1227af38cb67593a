//! One JSON line per request, like pino-http: request id, method, path, status, bytes,
//! duration, client IP, user agent, route class. Query values whose name suggests a
//! secret are redacted; Authorization and cookies are never logged. Probes (health,
//! readiness, metrics) are logged at debug level only.

use std::net::IpAddr;
use std::time::Duration;

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
    let path = match e.query {
        Some(q) if !q.is_empty() => format!("{}?{}", e.path, redact_query(q)),
        _ => e.path.to_owned(),
    };
    let duration_ms = e.duration.as_secs_f64() * 1000.0;
    macro_rules! line {
        ($lvl:ident) => {
            tracing::$lvl!(
                target: "access",
                request_id = e.request_id,
                method = e.method,
                path = %path,
                status = e.status,
                bytes = e.bytes,
                duration_ms = (duration_ms * 1000.0).round() / 1000.0,
                client_ip = %e.client_ip,
                user_agent = e.user_agent.unwrap_or(""),
                route = e.route,
                tls = e.tls,
                "request"
            )
        };
    }
    if probe {
        line!(debug);
    } else {
        line!(info);
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

    #[test]
    fn secrets_in_query_are_redacted() {
        assert_eq!(
            redact_query("room=call-1&token=abc&api_key=x&Secret=y&lang=nl&x"),
            "room=call-1&token=[redacted]&api_key=[redacted]&Secret=[redacted]&lang=nl&x"
        );
        assert_eq!(redact_query("page=2"), "page=2");
    }
}
