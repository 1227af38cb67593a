//! Security headers on every response, equivalent to Helmet's defaults (the seed used
//! Helmet), plus HSTS on HTTPS. Nothing names the server software.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Helmet's default Content-Security-Policy, with `media-src` and `connect-src` opened
/// to `blob:`/same-origin WebSockets that the Monitor and Studio pages use.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self';base-uri 'self';\
font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';\
img-src 'self' data:;media-src 'self' blob: data:;object-src 'none';\
script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';\
upgrade-insecure-requests";

pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

const COMMON: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

/// Adds the security headers (keeping any a handler set deliberately) and removes
/// headers that advertise the implementation.
pub fn apply(headers: &mut HeaderMap, https: bool) {
    for (name, value) in COMMON {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    if https {
        headers
            .entry(http::header::STRICT_TRANSPORT_SECURITY)
            .or_insert_with(|| HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    }
    headers.remove(http::header::SERVER);
    headers.remove("x-powered-by");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_all_and_hsts_only_on_https() {
        let mut h = HeaderMap::new();
        h.insert("x-powered-by", HeaderValue::from_static("Express"));
        h.insert(http::header::SERVER, HeaderValue::from_static("pingora"));
        apply(&mut h, false);
        for (name, _) in COMMON {
            assert!(h.contains_key(*name), "{name}");
        }
        assert!(!h.contains_key("strict-transport-security"));
        assert!(!h.contains_key("x-powered-by"));
        assert!(!h.contains_key("server"));
        let mut tls = HeaderMap::new();
        apply(&mut tls, true);
        assert_eq!(
            tls.get("strict-transport-security").map(|v| v.as_bytes()),
            Some(STRICT_TRANSPORT_SECURITY.as_bytes())
        );
    }

    #[test]
    fn handler_choice_wins() {
        let mut h = HeaderMap::new();
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        apply(&mut h, false);
        assert_eq!(
            h.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
    }
}
