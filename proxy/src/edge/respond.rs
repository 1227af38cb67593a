//! Writing responses to a Pingora session: JSON errors in the API's shape, and any
//! `http::Response<Body>` (axum's included) streamed frame by frame.

use axum::body::Body;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::StatusCode;
use http_body::Body as _;
use http_body_util::BodyExt;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;

/// `{"error":{"code","message"}}`, the shape every API error has.
pub fn error(status: StatusCode, code: &str, message: &str) -> http::Response<Body> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    json(status, &body)
}

/// 401 `unauthorized` with `WWW-Authenticate: Bearer`.
pub fn unauthorized(message: &str) -> http::Response<Body> {
    let mut res = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    res.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    res
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> http::Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut res = http::Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> http::Response<Body> {
    let mut res = http::Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Writes `res` (already decorated by the edge). Returns the status sent.
pub async fn send(session: &mut ServerSession, res: http::Response<Body>) -> pingora::Result<u16> {
    let (mut parts, mut body) = res.into_parts();
    let status = parts.status;
    let head_only = session.req_header().method == http::Method::HEAD;
    let no_body = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let exact = body.size_hint().exact();
    if !parts.headers.contains_key(CONTENT_LENGTH) {
        match exact {
            Some(len) if status != StatusCode::NO_CONTENT && !status.is_informational() => {
                parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
            }
            Some(_) => {}
            None if !session.is_http2() && !no_body => {
                parts
                    .headers
                    .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
            None => {}
        }
    }
    let header = ResponseHeader::from(parts);
    session.write_response_header(Box::new(header)).await?;
    if no_body {
        return Ok(status.as_u16());
    }
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let end = body.is_end_stream();
                if let Ok(data) = frame.into_data() {
                    if end {
                        // Last (often only) frame: written and finished in one go.
                        session.write_response_body(data, true).await?;
                        return Ok(status.as_u16());
                    }
                    if !data.is_empty() {
                        session.write_response_body(data, false).await?;
                    }
                }
            }
            Err(e) => {
                // The handler failed mid-stream: the client sees a truncated body and the
                // connection is not reused.
                tracing::warn!(error = %e, "response body failed mid-stream");
                session.set_keepalive(None);
                return Ok(status.as_u16());
            }
        }
    }
    session.finish_body().await?;
    Ok(status.as_u16())
}
