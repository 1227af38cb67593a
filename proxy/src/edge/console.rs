//! The admin console, embedded in the binary (`proxy/build.rs` compresses `console/`
//! at build time). Each file is sent as brotli or gzip when the browser accepts it,
//! with an ETag per form and `Cache-Control: no-cache` (the browser revalidates every
//! time, so an upgraded appliance never runs last week's script against its new API;
//! an unchanged file costs a 304). `/` is `index.html`; the pages are addressed by the
//! hash (`/#/calls`). `console.dir` serves a directory from disk instead
//! ([`super::static_files`]).

use axum::body::Body;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use http::StatusCode;

use super::respond;

/// One embedded file in its three forms.
pub struct Asset {
    pub path: &'static str,
    pub etag: &'static str,
    pub raw: &'static [u8],
    pub gzip: &'static [u8],
    pub brotli: &'static [u8],
}

pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The file a request path names exactly (`/` is `index.html`). The console's pages
/// are addressed by the hash (`/#/calls`), so no other path needs the page.
fn find(path: &str) -> Option<&'static Asset> {
    let relative = path.strip_prefix('/').unwrap_or(path);
    let wanted = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    ASSETS.iter().find(|a| a.path == wanted)
}

/// The content type by extension (what the console holds).
pub fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "wav" => "audio/wav",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Which encoding to send: brotli, then gzip, when `Accept-Encoding` allows them
/// (`q=0` refuses one).
fn encoding(headers: &HeaderMap) -> Option<&'static str> {
    let accepted = |name: &str| {
        headers
            .get_all(ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                parts.next().is_some_and(|n| n.eq_ignore_ascii_case(name))
                    && parts.all(|p| {
                        p.strip_prefix("q=")
                            .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
                    })
            })
    };
    if accepted("br") {
        Some("br")
    } else if accepted("gzip") {
        Some("gzip")
    } else {
        None
    }
}

pub fn serve(method: &http::Method, path: &str, headers: &HeaderMap) -> http::Response<Body> {
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut res = respond::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the console's files answer GET and HEAD",
        );
        res.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let Some(asset) = find(path) else {
        return respond::error(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let encoding = encoding(headers);
    let (bytes, etag) = match encoding {
        Some("br") => (asset.brotli, format!("\"{}-br\"", asset.etag)),
        Some(_) => (asset.gzip, format!("\"{}-gz\"", asset.etag)),
        None => (asset.raw, format!("\"{}\"", asset.etag)),
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        let mut r = http::Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let body = if method == http::Method::HEAD {
            Body::empty()
        } else {
            Body::from(bytes)
        };
        let mut r = http::Response::new(body);
        r.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        r
    };
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(mime(asset.path)));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    if let Some(e) = encoding {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("v"));
        h
    }

    #[test]
    fn the_console_is_embedded_with_its_pages_and_vendored_library() {
        for path in ["/", "/index.html", "/app.js", "/favicon.svg"] {
            assert!(find(path).is_some(), "{path}");
        }
        for path in [
            "/users",
            "/static/..%2f..%2fapi/status",
            "//app.js",
            "/vendor/",
        ] {
            assert!(find(path).is_none(), "{path}");
        }
        assert!(find("/vendor/preact-htm.module.js").is_some());
        assert!(find("/VENDOR.md").is_none(), "notes stay out");
        assert!(find("/missing.js").is_none());
        for a in ASSETS {
            assert!(!a.brotli.is_empty() && !a.gzip.is_empty(), "{}", a.path);
            assert_ne!(mime(a.path), "application/octet-stream", "{}", a.path);
        }
    }

    #[test]
    fn encodings_are_negotiated() {
        assert_eq!(encoding(&accept("gzip, deflate, br")), Some("br"));
        assert_eq!(encoding(&accept("gzip")), Some("gzip"));
        assert_eq!(encoding(&accept("br;q=0, gzip;q=0.5")), Some("gzip"));
        assert_eq!(encoding(&accept("identity")), None);
        assert_eq!(encoding(&HeaderMap::new()), None);
    }
}
