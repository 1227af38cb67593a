//! The REST API, as an axum [`Router`] the edge drives as a tower service (no socket,
//! no loopback hop). Handlers return `Result<_, ApiError>`; [`ApiError`] is the only
//! place an error becomes a response.

mod error;
pub mod store;

use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    started: Instant,
    bridge: agent5_bridge::Bridge,
}

impl AppState {
    pub fn new(bridge: agent5_bridge::Bridge) -> Self {
        Self {
            started: Instant::now(),
            bridge,
        }
    }
}

/// The whole API under `/api` (plus the Telnyx webhook aliases, once they land).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .fallback(not_found)
        .with_state(state)
}

#[derive(Serialize)]
struct Status {
    version: &'static str,
    uptime_secs: u64,
    websocket_sessions: usize,
}

/// `GET /api/status`: a cheap authenticated probe (also the edge benchmark's API route).
async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        websocket_sessions: state.bridge.open_sessions(),
    })
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> Router {
        router(AppState::new(agent5_bridge::Bridge::new(
            agent5_bridge::BridgeOptions::default(),
        )))
    }

    #[tokio::test]
    async fn status_and_json_404() {
        let res = app()
            .oneshot(
                http::Request::get("/api/status")
                    .body(axum::body::Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

        let res = app()
            .oneshot(
                http::Request::get("/api/nope")
                    .body(axum::body::Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.status(), 404);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["code"], "not_found");
    }
}
