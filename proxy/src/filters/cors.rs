//! CORS from the `CORS_ORIGIN` allow-list. Preflights are answered at the edge (they
//! never reach a handler); actual responses get the allow headers when the origin is
//! allowed. Exact origins are echoed with credentials; `*` never carries credentials.

use http::header::{HeaderMap, HeaderValue};

use crate::config::{AllowedOrigin, CorsOrigins};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
];
const EXPOSE_HEADERS: &str =
    "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, content-disposition";
const MAX_AGE_SECS: &str = "600";

/// A preflight's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Preflight {
    /// 204 with these headers.
    Allowed(HeaderMap),
    /// 403: the origin, method or a requested header is not allowed.
    Refused(&'static str),
}

/// Is this an `OPTIONS` preflight (as opposed to a plain `OPTIONS` request)?
pub fn is_preflight(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

pub fn preflight(origins: &CorsOrigins, headers: &HeaderMap) -> Preflight {
    let Some(origin) = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return Preflight::Refused("origin header is not valid");
    };
    let Some(allowed) = origins.allow(origin) else {
        return Preflight::Refused("origin is not in the CORS allow-list");
    };
    let method = headers
        .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ALLOW_METHODS.split(", ").any(|m| m == method) {
        return Preflight::Refused("method is not allowed");
    }
    let requested = headers
        .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut echoed = Vec::new();
    for h in requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let lower = h.to_ascii_lowercase();
        if !ALLOW_HEADERS.contains(&lower.as_str()) {
            return Preflight::Refused("a requested header is not allowed");
        }
        echoed.push(lower);
    }
    let mut out = HeaderMap::new();
    allow_origin(&mut out, &allowed);
    out.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    if !echoed.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&echoed.join(", ")) {
            out.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    out.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    Preflight::Allowed(out)
}

/// Adds the CORS headers of an actual (non-preflight) response.
pub fn decorate(origins: &CorsOrigins, request: &HeaderMap, response: &mut HeaderMap) {
    if matches!(origins, CorsOrigins::None) {
        return;
    }
    let Some(origin) = request
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if let Some(allowed) = origins.allow(origin) {
        allow_origin(response, &allowed);
        response.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

fn allow_origin(out: &mut HeaderMap, allowed: &AllowedOrigin) {
    match allowed {
        AllowedOrigin::Any => {
            out.insert(
                http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        AllowedOrigin::Exact(origin) => {
            if let Ok(v) = HeaderValue::from_str(origin) {
                out.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                out.insert(
                    http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
                // Once, however often the response is decorated (a preflight is too).
                if !out
                    .get_all(http::header::VARY)
                    .iter()
                    .any(|v| v == "Origin")
                {
                    out.append(http::header::VARY, HeaderValue::from_static("Origin"));
                }
            }
        }
    }
}

/// The filter: answers preflights at the edge, decorates every answer.
pub struct Cors {
    origins: CorsOrigins,
}

impl Cors {
    pub fn new(origins: CorsOrigins) -> Self {
        Self { origins }
    }
}

#[async_trait::async_trait]
impl super::RequestFilter for Cors {
    async fn request(
        &self,
        head: &pingora::http::RequestHeader,
        _ctx: &mut super::Ctx,
        _shared: &crate::edge::Shared,
    ) -> super::Verdict {
        if !is_preflight(&head.method, &head.headers) {
            return super::Verdict::Next;
        }
        super::Verdict::Answer(match preflight(&self.origins, &head.headers) {
            Preflight::Allowed(h) => {
                let mut res = http::Response::new(axum::body::Body::empty());
                *res.status_mut() = http::StatusCode::NO_CONTENT;
                *res.headers_mut() = h;
                res
            }
            Preflight::Refused(why) => {
                crate::edge::respond::error(http::StatusCode::FORBIDDEN, "cors_refused", why)
            }
        })
    }

    fn response(
        &self,
        head: &pingora::http::RequestHeader,
        _ctx: &super::Ctx,
        headers: &mut HeaderMap,
    ) {
        if !matches!(self.origins, CorsOrigins::None) {
            decorate(&self.origins, &head.headers, headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: &str, method: &str, headers: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ORIGIN,
            HeaderValue::from_str(origin).expect("v"),
        );
        h.insert(
            http::header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_str(method).expect("v"),
        );
        if !headers.is_empty() {
            h.insert(
                http::header::ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_str(headers).expect("v"),
            );
        }
        h
    }

    fn list() -> CorsOrigins {
        CorsOrigins::parse(&["https://admin.example.com".to_owned()]).expect("valid")
    }

    #[test]
    fn allowed_origin_is_echoed_with_credentials() {
        let Preflight::Allowed(h) = preflight(
            &list(),
            &req(
                "https://admin.example.com",
                "PATCH",
                "Authorization, Content-Type",
            ),
        ) else {
            panic!("refused");
        };
        assert_eq!(
            h["access-control-allow-origin"],
            "https://admin.example.com"
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization, content-type"
        );
        assert_eq!(h["vary"], "Origin");
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            preflight(&list(), &req("https://evil.example", "GET", "")),
            Preflight::Refused(_)
        ));
        assert!(matches!(
            preflight(&list(), &req("https://admin.example.com", "TRACE", "")),
            Preflight::Refused(_)
        ));
        assert!(matches!(
            preflight(&list(), &req("https://admin.example.com", "GET", "x-evil")),
            Preflight::Refused(_)
        ));
        assert!(matches!(
            preflight(
                &CorsOrigins::None,
                &req("https://admin.example.com", "GET", "")
            ),
            Preflight::Refused(_)
        ));
    }

    #[test]
    fn wildcard_never_sends_credentials() {
        let Preflight::Allowed(h) =
            preflight(&CorsOrigins::Any, &req("https://any.example", "GET", ""))
        else {
            panic!("refused");
        };
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(!h.contains_key("access-control-allow-credentials"));
    }
}
