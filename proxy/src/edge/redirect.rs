//! The plaintext listener in front of HTTPS: 308 to `https://` for everything except
//! `/healthz` and ACME HTTP-01 challenges, which are answered from
//! `data_dir/acme/http-01/<token>`. The redirect goes only to a name the certificates
//! cover: the request's `Host` when it is one of them, else the default certificate's
//! first name, never a host a client made up (an open redirect).

use std::path::Path;

use axum::body::Body;
use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;

use super::respond;

pub const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

pub async fn answer(
    data_dir: &Path,
    https_port: u16,
    names: &[String],
    head: &http::request::Parts,
) -> http::Response<Body> {
    let path = head.uri.path();
    if path == "/healthz" {
        return super::probes::healthz();
    }
    if let Some(token) = path.strip_prefix(ACME_PREFIX) {
        return acme_challenge(data_dir, token).await;
    }
    let asked = request_host(head);
    let covered = asked
        .as_deref()
        .filter(|h| names.iter().any(|n| covers(n, h)));
    let Some(host) = covered.or_else(|| {
        names
            .iter()
            .map(String::as_str)
            .find(|n| !n.starts_with("*."))
    }) else {
        return respond::error(
            StatusCode::BAD_REQUEST,
            "bad_host",
            "a Host header naming this service is required",
        );
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = head
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let location = format!("https://{host}{port}{target}");
    let mut res = respond::error(
        StatusCode::PERMANENT_REDIRECT,
        "https_required",
        "this service is only available over HTTPS",
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(http::header::LOCATION, v);
    }
    res
}

/// The host name of the request without its port, if it is a plausible DNS name or IP.
fn request_host(head: &http::request::Parts) -> Option<String> {
    let raw = head
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| head.uri.host())?;
    let host = if let Some(rest) = raw.strip_prefix('[') {
        let end = rest.find(']')?;
        format!("[{}]", &rest[..end])
    } else {
        raw.split(':').next()?.to_owned()
    };
    let plausible = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    plausible.then(|| host.to_ascii_lowercase())
}

/// Whether certificate name `name` (maybe `*.example.com`) covers `host`.
fn covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => name == host,
    }
}

pub(crate) async fn acme_challenge(data_dir: &Path, token: &str) -> http::Response<Body> {
    let valid = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        let file = data_dir.join("acme").join("http-01").join(token);
        if let Ok(content) = tokio::fs::read(&file).await {
            return respond::bytes(
                StatusCode::OK,
                "application/octet-stream",
                Bytes::from(content),
            );
        }
    }
    respond::error(StatusCode::NOT_FOUND, "not_found", "unknown ACME challenge")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(host: &str, path: &str) -> http::request::Parts {
        http::Request::get(path)
            .header("host", host)
            .body(())
            .expect("req")
            .into_parts()
            .0
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[tokio::test]
    async fn redirects_keep_path_and_query() {
        let dir = tempfile::tempdir().expect("tmp");
        let ours = names(&["agent.example.com", "*.calls.example.com", "[::1]"]);
        let res = answer(
            dir.path(),
            443,
            &ours,
            &head("Agent.Example.com:80", "/admin?x=1"),
        )
        .await;
        assert_eq!(res.status(), 308);
        assert_eq!(
            res.headers()["location"],
            "https://agent.example.com/admin?x=1"
        );
        let res = answer(dir.path(), 8443, &ours, &head("[::1]:8080", "/")).await;
        assert_eq!(res.headers()["location"], "https://[::1]:8443/");
        let res = answer(dir.path(), 443, &ours, &head("eu.calls.example.com", "/x")).await;
        assert_eq!(res.headers()["location"], "https://eu.calls.example.com/x");
    }

    #[tokio::test]
    async fn a_host_the_certificates_do_not_cover_is_never_a_redirect_target() {
        let dir = tempfile::tempdir().expect("tmp");
        let ours = names(&["*.calls.example.com", "agent.example.com"]);
        for host in [
            "evil.example",
            "bad host\"",
            "calls.example.com",
            "a.b.calls.example.com",
            "",
        ] {
            let res = answer(dir.path(), 8443, &ours, &head(host, "/x?y=1")).await;
            assert_eq!(res.status(), 308, "{host}");
            assert_eq!(
                res.headers()["location"],
                "https://agent.example.com:8443/x?y=1",
                "{host}"
            );
        }
        let res = answer(dir.path(), 443, &[], &head("evil.example", "/")).await;
        assert_eq!(res.status(), 400, "no name to send anyone to");
    }

    #[tokio::test]
    async fn health_and_acme_are_not_redirected() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(
            answer(dir.path(), 443, &[], &head("a", "/healthz"))
                .await
                .status(),
            200
        );
        let challenges = dir.path().join("acme/http-01");
        std::fs::create_dir_all(&challenges).expect("mkdir");
        std::fs::write(challenges.join("tok_1-x"), "tok_1-x.thumb").expect("write");
        let res = answer(
            dir.path(),
            443,
            &[],
            &head("a", "/.well-known/acme-challenge/tok_1-x"),
        )
        .await;
        assert_eq!(res.status(), 200);
        let res = answer(
            dir.path(),
            443,
            &[],
            &head("a", "/.well-known/acme-challenge/..%2fx"),
        )
        .await;
        assert_eq!(res.status(), 404);
    }
}
