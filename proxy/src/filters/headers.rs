//! Security headers on every response, equivalent to Helmet's defaults (the seed used
//! Helmet), plus HSTS on HTTPS. Nothing names the server software.

use std::sync::LazyLock;

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

static PLAIN: LazyLock<HeaderMap> = LazyLock::new(|| template(false));
static TLS: LazyLock<HeaderMap> = LazyLock::new(|| template(true));

fn template(https: bool) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(COMMON.len() + 8);
    apply(&mut h, https);
    h
}

const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// The response headers: the security set first, then the handler's own, which win
/// when they name the same header. Starting from a prebuilt template costs a copy
/// instead of a dozen hash-and-insert steps per response.
pub fn with_security(own: HeaderMap, https: bool) -> HeaderMap {
    let mut out = if https { TLS.clone() } else { PLAIN.clone() };
    let mut current: Option<HeaderName> = None;
    for (name, value) in own {
        match name {
            Some(name) => {
                out.insert(name.clone(), value);
                current = Some(name);
            }
            None => {
                if let Some(name) = &current {
                    out.append(name.clone(), value);
                }
            }
        }
    }
    out.remove(http::header::SERVER);
    out.remove(X_POWERED_BY);
    out
}

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
    headers.remove(X_POWERED_BY);
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
    fn template_matches_apply_and_keeps_multi_values() {
        let mut own = HeaderMap::new();
        own.insert("x-frame-options", HeaderValue::from_static("DENY"));
        own.append("vary", HeaderValue::from_static("Origin"));
        own.append("vary", HeaderValue::from_static("Accept"));
        own.insert("x-powered-by", HeaderValue::from_static("Express"));
        let out = with_security(own, true);
        assert_eq!(out["x-frame-options"], "DENY");
        assert_eq!(out.get_all("vary").iter().count(), 2);
        assert!(out.contains_key("strict-transport-security"));
        assert!(!out.contains_key("x-powered-by"));
        for (name, _) in COMMON {
            assert!(out.contains_key(*name), "{name}");
        }
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
