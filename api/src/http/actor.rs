//! Who is acting, as the audit log names them.

use axum::http::HeaderMap;

/// The `X-Actor` header the admin console sends (printable ASCII, at most 64 bytes),
/// else `api`.
pub fn actor(headers: &HeaderMap) -> String {
    headers
        .get("x-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|a| {
            !a.is_empty() && a.len() <= 64 && a.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .map_or_else(|| "api".to_owned(), str::to_owned)
}
