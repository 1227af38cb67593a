//! The REST API, as an axum [`Router`] the edge drives as a tower service (no socket,
//! no loopback hop). Handlers return `Result<_, ApiError>`; [`ApiError`] is the only
//! place an error becomes a response.

pub mod agents;
pub mod bridge_hooks;
pub mod calls;
pub mod csv_out;
pub mod dnc;
mod error;
pub mod export;
pub mod field_defs;
pub mod import;
pub mod livekit;
pub mod metrics;
pub mod params;
pub mod phone;
pub mod prospect_edit;
pub mod prospects;
pub mod recordings;
pub mod store;
pub mod telnyx;
pub mod templates;
pub mod time;
pub mod upload;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

pub use error::ApiError;
use store::model::AuditEntry;
use store::SharedStore;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    started: Instant,
    bridge: agent5_bridge::Bridge,
    store: SharedStore,
    /// Region national phone numbers are read in.
    region: phone::Region,
    /// Most data rows one upload may hold.
    import_max_rows: u64,
    telephony: Arc<calls::Telephony>,
    /// The webhook recorder and workers (absent until started on a runtime).
    webhooks: Option<telnyx::webhook::Pipeline>,
    /// Where call recordings are (`<call id>.wav`).
    recordings_dir: std::path::PathBuf,
    livekit: Option<Arc<livekit::LiveKit>>,
}

impl AppState {
    /// Telnyx unconfigured: webhooks answer 503 and dialling `telnyx_not_configured`
    /// until [`AppState::with_telephony`].
    pub fn new(bridge: agent5_bridge::Bridge, store: SharedStore) -> Self {
        let telephony = calls::Telephony::new(
            Arc::clone(&store),
            calls::TelnyxSettings::default(),
            metrics::ApiMetrics::new(),
        )
        .map(Arc::new)
        .unwrap_or_else(|e| panic!("telephony without a client cannot fail: {e}"));
        Self {
            started: Instant::now(),
            bridge,
            store,
            region: phone::Region::default(),
            import_max_rows: import::run::DEFAULT_MAX_ROWS,
            telephony,
            webhooks: None,
            recordings_dir: std::path::PathBuf::from("data/recordings"),
            livekit: None,
        }
    }

    pub fn with_livekit(mut self, livekit: livekit::LiveKit) -> Self {
        self.livekit = Some(Arc::new(livekit));
        self
    }

    pub fn with_recordings_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.recordings_dir = dir;
        self
    }

    /// Configures Telnyx and starts the webhook pipeline on `runtime` (it must live as
    /// long as the router).
    pub fn with_telephony(
        mut self,
        settings: calls::TelnyxSettings,
        metrics: metrics::ApiMetrics,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, String> {
        let telephony = Arc::new(calls::Telephony::new(
            Arc::clone(&self.store),
            settings,
            metrics,
        )?);
        self.webhooks = Some(telnyx::webhook::Pipeline::start(
            Arc::clone(&telephony),
            runtime,
        ));
        self.telephony = telephony;
        Ok(self)
    }

    pub fn telephony(&self) -> &Arc<calls::Telephony> {
        &self.telephony
    }

    pub fn with_import_max_rows(mut self, rows: u64) -> Self {
        self.import_max_rows = rows;
        self
    }

    pub fn with_region(mut self, region: phone::Region) -> Self {
        self.region = region;
        self
    }
}

/// The whole API under `/api` (plus the Telnyx webhook aliases, once they land).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/audit", get(audit))
        .route("/api/dnc", get(dnc::list))
        .route("/api/dnc/export.csv", get(dnc::export))
        .route("/api/dnc/import", axum::routing::post(upload::dnc))
        .route("/api/prospects", get(prospects::list))
        .route(
            "/api/prospects/upload",
            axum::routing::post(upload::prospects),
        )
        .route(
            "/api/prospects/upload_deliveries",
            axum::routing::post(upload::deliveries),
        )
        .route("/api/prospects/template.csv", get(templates::prospects))
        .route("/api/prospects/export.csv", get(export::export))
        .route(
            "/api/prospects/deliveries_template.csv",
            get(templates::deliveries),
        )
        .route(
            "/api/prospects/field-defs",
            get(field_defs::list).post(field_defs::create),
        )
        .route(
            "/api/prospects/field-defs/{id}",
            axum::routing::patch(field_defs::update).delete(field_defs::delete),
        )
        .route("/api/prospects/{id}", get(prospect_edit::get))
        .route(
            "/api/prospects/{id}/archive",
            axum::routing::patch(prospect_edit::archive),
        )
        .route(
            "/api/prospects/{id}/unarchive",
            axum::routing::patch(prospect_edit::unarchive),
        )
        .route(
            "/api/prospects/{id}/invoice",
            axum::routing::patch(prospect_edit::edit_invoice),
        )
        .route(
            "/api/prospects/{id}/delivery/{code}",
            axum::routing::patch(prospect_edit::edit_delivery),
        )
        .route("/api/prospects/{id}/logs", get(prospect_edit::logs))
        .route(
            "/api/prospects/phone/{e164}/opt-out",
            axum::routing::patch(prospects::set_opt_out),
        )
        .route(
            "/api/telnyx/events",
            axum::routing::post(telnyx::webhook::receive),
        )
        .route(
            "/webhooks/telnyx",
            axum::routing::post(telnyx::webhook::receive),
        )
        .route(
            "/api/calls",
            get(calls::routes::list).post(calls::routes::create),
        )
        .route("/api/calls/live", get(calls::live::list))
        .route("/api/calls/live/events", get(calls::live::events))
        .route("/api/calls/{id}", get(calls::routes::get))
        .route(
            "/api/calls/{id}/hangup",
            axum::routing::post(calls::routes::hangup),
        )
        .route("/api/calls/{id}/recording", get(recordings::by_call))
        .route("/recordings/{file}", get(recordings::by_file))
        .route("/api/livekit/token", get(livekit::token))
        .route(
            "/api/livekit/webhook",
            axum::routing::post(livekit::webhook),
        )
        .route("/api/livekit/rooms", get(livekit::rooms))
        .route(
            "/api/livekit/rooms/{room}/participants",
            get(livekit::participants),
        )
        .route(
            "/api/livekit/rooms/{room}",
            axum::routing::delete(livekit::delete_room),
        )
        .route("/api/agents", get(agents::list).post(agents::create))
        .route(
            "/api/agents/{id}",
            get(agents::get)
                .patch(agents::update)
                .delete(agents::delete),
        )
        .fallback(not_found)
        // Body sizes are enforced per route class at the edge (JSON 1 MiB, uploads
        // 50 MiB by default); axum's own 2 MB cap would cut uploads short.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

const AUDIT_DEFAULT: u64 = 100;
const AUDIT_MAX: u64 = 1000;

#[derive(Serialize)]
struct AuditPage {
    items: Vec<AuditEntry>,
}

/// `GET /api/audit?limit=`: who did what, newest first (at most 1000).
async fn audit(
    State(state): State<AppState>,
    params::Params(params): params::Params,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = params::number_or(&params, "limit", AUDIT_DEFAULT, AUDIT_MAX, "invalid_limit")?;
    let items = state.store.list_audit(limit).await?;
    Ok(Json(AuditPage { items }))
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
                .append_audit(AuditEntry {
                    at: 1000 + i,
                    actor: "ops".into(),
                    action: "opt_out".into(),
                    target: format!("+3247000000{i}"),
                    detail: String::new(),
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
