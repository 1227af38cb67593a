//! The admin console from a directory on disk (`console.dir`, for developing it
//! without rebuilding; the binary otherwise serves its embedded copy, `console.rs`).
//! Paths are percent-decoded and must stay inside the directory (no `..`, no hidden
//! files); `/` (a directory) is its `index.html`. Every answer is
//! `Cache-Control: no-cache`.

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
            "the console directory (console.dir) does not exist",
        );
    }
    let Some(relative) = safe_relative(path) else {
        return respond::error(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let mut candidate = admin_dir.join(&relative);
    if candidate.is_dir() {
        candidate = candidate.join("index.html");
    }
    match open(&candidate).await {
        Some(res) => res,
        None => respond::error(StatusCode::NOT_FOUND, "not_found", "no such file"),
    }
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
    let content_type = super::console::mime(&path.to_string_lossy());
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
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
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
}
