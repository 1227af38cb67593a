//! The appliance's own routes: `GET /api/status` (a cheap authenticated probe) and
//! the JSON 404 for every other path.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::http::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/status", get(status))
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

pub(crate) async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router;
    use crate::store;
    use crate::store::SharedStore;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn app() -> (Router, SharedStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tmp");
        let store: SharedStore = std::sync::Arc::new(
            store::sqlite::SqliteStore::open(&dir.path().join("a.db"))
                .await
                .expect("store"),
        );
        let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
        (router(AppState::new(bridge, store.clone())), store, dir)
    }

    async fn get(app: &Router, uri: &str) -> (http::StatusCode, serde_json::Value) {
        let res = app
            .clone()
            .oneshot(
                http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test]
    async fn audit_lists_newest_first_and_validates_limit() {
        let (app, store, _dir) = app().await;
        for i in 0..3 {
            store
                .append_audit(crate::model::AuditEntry {
                    at: 1000 + i,
                    ..crate::model::AuditEntry::system(
                        "ops",
                        "opt_out",
                        &format!("+3247000000{i}"),
                        String::new(),
                    )
                })
                .await
                .expect("append");
        }
        let (status, body) = get(&app, "/api/audit?limit=2").await;
        assert_eq!(status, 200);
        assert_eq!(body["items"].as_array().expect("items").len(), 2);
        assert_eq!(body["items"][0]["target"], "+32470000002");
        for limit in ["5000", "18446744073709551616", "-1", "x"] {
            let (status, body) = get(&app, &format!("/api/audit?limit={limit}")).await;
            assert_eq!(status, 400, "{limit}");
            assert_eq!(body["error"]["code"], "invalid_limit", "{limit}");
            assert_eq!(body["error"]["field"], "limit");
        }
    }

    #[tokio::test]
    async fn status_and_json_404() {
        let (app, _store, _dir) = app().await;
        let app = || app.clone();
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
