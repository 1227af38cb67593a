//! The admin console's static files. Paths are percent-decoded and must stay inside
//! the admin directory (no `..`, no hidden files); a path under `/admin` that names no
//! file gets `index.html` so the single-page app's routes work on reload.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use percent_encoding::percent_decode_str;
use tokio::io::AsyncReadExt;

use super::respond;

const CHUNK: usize = 64 * 1024;

pub async fn serve(admin_dir: &Path, method: &http::Method, path: &str) -> http::Response<Body> {
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut res = respond::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "static files answer GET and HEAD",
        );
        res.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    if !admin_dir.is_dir() {
        return respond::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no admin console is installed",
        );
    }
    let Some(relative) = safe_relative(path) else {
        return respond::error(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let mut candidate = admin_dir.join(&relative);
    if candidate.is_dir() {
        candidate = candidate.join("index.html");
    }
    if !candidate.is_file() && is_spa_route(path) {
        candidate = admin_dir.join("index.html");
    }
    match open(&candidate).await {
        Some(res) => res,
        None => respond::error(StatusCode::NOT_FOUND, "not_found", "no such file"),
    }
}

/// `/admin/monitor` (no extension) is an app route, `/admin/app.js` a missing file.
fn is_spa_route(path: &str) -> bool {
    (path == "/admin" || path.starts_with("/admin/"))
        && !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// The decoded path as a relative path of normal components, or `None`.
pub fn safe_relative(path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for component in Path::new(decoded.as_ref()).components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => {
                if part.to_string_lossy().starts_with('.') {
                    return None;
                }
                out.push(part);
            }
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

async fn open(path: &Path) -> Option<http::Response<Body>> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let content_type = if mime.type_() == mime_guess::mime::TEXT
        || mime.essence_str() == "application/javascript"
    {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    };
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut res = http::Response::new(Body::from_stream(stream));
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    let cache = if path.file_name().is_some_and(|n| n == "index.html") {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_impossible() {
        assert_eq!(
            safe_relative("/app/main.js"),
            Some(PathBuf::from("app/main.js"))
        );
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/.env",
            "/a/.git/config",
            "/a%00b",
            "/a%5c..%5cb",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn spa_routes() {
        assert!(is_spa_route("/admin/monitor"));
        assert!(is_spa_route("/admin"));
        assert!(!is_spa_route("/admin/app.js"));
        assert!(!is_spa_route("/other"));
    }
}
