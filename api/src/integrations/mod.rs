//! The outside services the appliance talks to: Telnyx (Call Control, webhooks) and
//! LiveKit (tokens, rooms, webhooks). Each is a real client with a configurable base
//! URL; the tests run them against fakes speaking the documented wire shapes.

pub mod livekit;
pub mod telnyx;

/// An integration's HTTP client could not be built (TLS roots, a bad setting).
#[derive(Debug, thiserror::Error)]
#[error("{service} client: {reason}")]
pub struct ClientError {
    pub service: &'static str,
    pub reason: String,
}

impl ClientError {
    pub(crate) fn new(service: &'static str, e: impl std::fmt::Display) -> Self {
        Self {
            service,
            reason: e.to_string(),
        }
    }
}

use axum::routing::{delete, get, post};
use axum::Router;

use crate::AppState;

/// Telnyx webhooks (at `/api/telnyx/events` and the seed's `/webhooks/telnyx`) and the
/// LiveKit routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/telnyx/events", post(telnyx::webhook::receive))
        .route("/webhooks/telnyx", post(telnyx::webhook::receive))
        .route("/api/livekit/token", get(livekit::token))
        .route("/api/livekit/webhook", post(livekit::webhook))
        .route("/api/livekit/rooms", get(livekit::rooms))
        .route(
            "/api/livekit/rooms/{room}/participants",
            get(livekit::participants),
        )
        .route("/api/livekit/rooms/{room}", delete(livekit::delete_room))
}
