//! The API's one error type and its single mapping to a response:
//! `{"error":{"code","message","field?"}}` with a stable code. Internal details are
//! logged with the request id, never sent.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// What went wrong inside (logged once with the request id by [`log_outcome`],
    /// never sent).
    pub internal: Option<String>,
}

/// An answered error's code and inner cause, for [`log_outcome`].
#[derive(Debug, Clone)]
struct Logged {
    code: &'static str,
    internal: Option<String>,
}

/// Logs an error answer once, with the request id the edge gave the request, its path,
/// its code and its inner cause (server errors as warnings, refusals of bad input at
/// debug); other answers are not logged here. The edge calls this for every API answer
/// (a router layer did, at the cost of a boxed future and two strings per request).
pub fn log_outcome(request_id: &str, path: &str, response: &Response) {
    if let Some(logged) = response.extensions().get::<Logged>() {
        let status = response.status().as_u16();
        let internal = logged.internal.as_deref().unwrap_or("");
        if response.status().is_server_error() {
            tracing::warn!(
                request_id,
                status,
                code = logged.code,
                path,
                internal,
                "API error"
            );
        } else {
            tracing::debug!(request_id, status, code = logged.code, path, "API refusal");
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            internal: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A 400 with error `code` about the input `field`.
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).with_field(field)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// A 500 `internal`: `message` is sent, `cause` only logged.
    pub fn internal(message: impl Into<String>, cause: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message);
        e.internal = Some(cause.into());
        e
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => Self::not_found("no such record"),
            StoreError::Conflict { field } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{field} already exists or changed meanwhile"),
            )
            .with_field(field),
            StoreError::Invalid(why) => Self::new(StatusCode::BAD_REQUEST, "invalid", why),
            StoreError::Unavailable(why) => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; retry shortly",
                );
                e.internal = Some(why);
                e
            }
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(Logged {
            code: self.code,
            internal: self.internal,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::store::StoreError;

    /// A log writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn failing() -> ApiError {
        StoreError::Unavailable("connection refused by db-1".into()).into()
    }

    async fn refusing() -> ApiError {
        ApiError::invalid("invalid_parameter", "page", "page must be a number")
    }

    #[tokio::test]
    async fn an_error_is_logged_once_with_the_request_id_and_its_cause_never_sent() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route("/fail", get(failing))
            .route("/refuse", get(refusing));
        let answer = |uri: &'static str| {
            let app = app.clone();
            async move {
                let request = http::Request::get(uri)
                    .body(Body::empty())
                    .expect("request");
                let res = app.oneshot(request).await.expect("answer");
                log_outcome("req-42", uri, &res);
                res
            }
        };
        let res = answer("/fail").await;
        assert_eq!(res.status(), 503);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert!(
            !String::from_utf8_lossy(&body).contains("db-1"),
            "the cause is not sent"
        );
        let res = answer("/refuse").await;
        assert_eq!(res.status(), 400);
        let log = String::from_utf8(captured.0.lock().expect("log").clone()).expect("utf8");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("API error")).collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert!(errors[0].contains("WARN"), "{log}");
        for part in [
            "req-42",
            "store_unavailable",
            "connection refused by db-1",
            "/fail",
        ] {
            assert!(errors[0].contains(part), "{part} in {log}");
        }
        let refusal: Vec<&str> = log.lines().filter(|l| l.contains("API refusal")).collect();
        assert_eq!(refusal.len(), 1, "{log}");
        assert!(refusal[0].contains("DEBUG") && refusal[0].contains("invalid_parameter"));
    }
}
