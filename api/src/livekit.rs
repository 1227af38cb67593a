//! LiveKit, as the seed used it: `GET /api/livekit/token` mints room tokens (HS256 with
//! the API secret, `livekit-api` without WebRTC), `POST /api/livekit/webhook` verifies
//! LiveKit's JWT and the body's SHA-256 (compared in constant time), and a RoomService
//! client (Twirp JSON) lists rooms and participants and deletes rooms. Listen-in itself
//! uses `/monitor`: publishing call audio into LiveKit rooms needs LiveKit's native
//! WebRTC library, which cannot be built here.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use livekit_api::access_token::{AccessToken, TokenVerifier, VideoGrants};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

#[derive(Clone)]
pub struct LiveKit {
    /// The server URL clients connect to (`wss://…`).
    pub url: String,
    api_key: String,
    api_secret: String,
    pub token_ttl: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for LiveKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKit")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "livekit_not_configured",
        "LIVEKIT_SERVER_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are not all set",
    )
}

fn token_error(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "livekit token could not be minted");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "token_error",
        "the token could not be made",
    )
}

impl LiveKit {
    pub fn new(
        url: &str,
        api_key: &str,
        api_secret: &str,
        token_ttl: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            token_ttl,
            http,
        })
    }

    /// The HTTP root of the server API (`wss://` -> `https://`).
    fn api_root(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            self.url.clone()
        }
    }

    /// A participant token: join `room` as `identity`, publishing only if `publish`.
    pub fn participant_token(
        &self,
        room: &str,
        identity: &str,
        publish: bool,
    ) -> Result<String, ApiError> {
        AccessToken::with_api_key(&self.api_key, &self.api_secret)
            .with_identity(identity)
            .with_name(identity)
            .with_ttl(self.token_ttl)
            .with_grants(VideoGrants {
                room_join: true,
                room: room.to_owned(),
                can_publish: publish,
                can_publish_data: publish,
                can_subscribe: true,
                ..VideoGrants::default()
            })
            .to_jwt()
            .map_err(token_error)
    }

    /// Calls a RoomService method (Twirp, JSON) with a short-lived admin token.
    pub async fn room_service(
        &self,
        method: &str,
        room: Option<&str>,
        body: Value,
    ) -> Result<Value, ApiError> {
        let token = AccessToken::with_api_key(&self.api_key, &self.api_secret)
            .with_ttl(Duration::from_secs(600))
            .with_grants(VideoGrants {
                room_list: true,
                room_create: true,
                room_admin: true,
                room: room.unwrap_or_default().to_owned(),
                ..VideoGrants::default()
            })
            .to_jwt()
            .map_err(token_error)?;
        let url = format!("{}/twirp/livekit.RoomService/{method}", self.api_root());
        let res = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "livekit_unreachable",
                    format!("LiveKit could not be reached: {}", e.without_url()),
                )
            })?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = answer["msg"]
                .as_str()
                .unwrap_or("LiveKit refused the request")
                .to_owned();
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "livekit_error",
                format!("{method}: {status}: {msg}"),
            ));
        }
        Ok(answer)
    }

    /// Verifies a webhook: the JWT in `Authorization` (no "Bearer"), then the body hash.
    pub fn verify_webhook(&self, authorization: &str, body: &[u8]) -> Result<(), &'static str> {
        let claims = TokenVerifier::with_api_key(&self.api_key, &self.api_secret)
            .verify(authorization.trim())
            .map_err(|_| "invalid_token")?;
        let claimed = STANDARD
            .decode(claims.sha256.as_bytes())
            .map_err(|_| "invalid_hash")?;
        let actual = ring::digest::digest(&ring::digest::SHA256, body);
        if bool::from(claimed.as_slice().ct_eq(actual.as_ref())) {
            Ok(())
        } else {
            Err("body_mismatch")
        }
    }
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    let v = p.get(name).map(|v| v.trim()).unwrap_or_default();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{name} must hold 1 to 128 characters"),
        )
        .with_field(name));
    }
    Ok(v)
}

/// `GET /api/livekit/token?room=&identity=&pub=0|1`
pub async fn token(
    State(state): State<AppState>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let lk = state.livekit.as_ref().ok_or_else(not_configured)?;
    let room = param(&p, "room")?;
    let identity = param(&p, "identity")?;
    let publish = match p.get("pub").map(String::as_str) {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "pub must be 0 or 1",
            )
            .with_field("pub"))
        }
    };
    let token = lk.participant_token(room, identity, publish)?;
    Ok(Json(
        json!({"token": token, "url": lk.url, "room": room, "identity": identity, "expires_in": lk.token_ttl.as_secs()}),
    ))
}

/// `POST /api/livekit/webhook`
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let lk = state.livekit.as_ref().ok_or_else(not_configured)?;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Err(reason) = lk.verify_webhook(auth, &body) {
        tracing::warn!(reason, "livekit webhook refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            reason,
            "the webhook signature could not be verified",
        ));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", e.to_string()))?;
    tracing::info!(event = %event["event"].as_str().unwrap_or("?"), room = %event["room"]["name"].as_str().unwrap_or(""), "livekit webhook");
    Ok(Json(json!({"status": "ok"})))
}

/// `GET /api/livekit/rooms`
pub async fn rooms(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let lk = state.livekit.as_ref().ok_or_else(not_configured)?;
    Ok(Json(lk.room_service("ListRooms", None, json!({})).await?))
}

/// `GET /api/livekit/rooms/{room}/participants`
pub async fn participants(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let lk = state.livekit.as_ref().ok_or_else(not_configured)?;
    Ok(Json(
        lk.room_service("ListParticipants", Some(&room), json!({"room": room}))
            .await?,
    ))
}

/// `DELETE /api/livekit/rooms/{room}`: 204.
pub async fn delete_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lk = state.livekit.as_ref().ok_or_else(not_configured)?;
    lk.room_service("DeleteRoom", Some(&room), json!({"room": room}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
