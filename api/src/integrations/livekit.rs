//! LiveKit, as the seed used it: `GET /api/livekit/token` mints room tokens (HS256 with
//! the API secret, `livekit-api` without WebRTC), `POST /api/livekit/webhook` verifies
//! LiveKit's JWT and the body's SHA-256 (compared in constant time), and a RoomService
//! client (Twirp JSON) lists rooms and participants and deletes rooms. Listen-in itself
//! uses `/monitor`: publishing call audio into LiveKit rooms needs LiveKit's native
//! WebRTC library, which cannot be built here.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use livekit_api::access_token::{AccessToken, TokenVerifier, VideoGrants};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::http::ApiError;
use crate::AppState;

#[derive(Clone)]
pub struct LiveKit {
    /// The server URL clients connect to (`wss://…`).
    pub url: String,
    api_key: String,
    api_secret: String,
    pub token_ttl: Duration,
    http: reqwest::Client,
    /// Webhook event ids seen inside the freshness window (replays are refused).
    seen: std::sync::Arc<std::sync::Mutex<HashMap<String, i64>>>,
}

/// A webhook's `createdAt` must be within this many seconds of our clock, like Telnyx's.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;
/// Event ids remembered at most (far beyond what a LiveKit server sends in the window).
const SEEN_MAX: usize = 20_000;

/// Why a verified webhook is still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// No `id`, or no `createdAt` we can read.
    Unidentified,
    /// `createdAt` further from now than the tolerance.
    Stale,
    /// This id was already accepted.
    Duplicate,
    /// Too many ids inside the window to remember another.
    Busy,
}

/// Checks a verified event's `id` and `createdAt` (Unix seconds, as a string or a
/// number) at `now`, remembering the id in `seen` when it is accepted.
pub fn check_replay(
    seen: &mut HashMap<String, i64>,
    event: &Value,
    now: i64,
) -> Result<(), Replay> {
    let id = event["id"]
        .as_str()
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .ok_or(Replay::Unidentified)?;
    let created = match &event["createdAt"] {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or(Replay::Unidentified)?;
    seen.retain(|_, expires| *expires > now);
    if (now - created).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(Replay::Stale);
    }
    if seen.contains_key(id) {
        return Err(Replay::Duplicate);
    }
    if seen.len() >= SEEN_MAX {
        return Err(Replay::Busy);
    }
    // Kept until its createdAt is out of the window: after that the age check refuses it.
    seen.insert(id.to_owned(), created + WEBHOOK_TOLERANCE_SECS + 1);
    Ok(())
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
    ) -> Result<Self, super::ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| super::ClientError::new("LiveKit", e))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            token_ttl,
            http,
            seen: std::sync::Arc::default(),
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
    crate::http::Params(p): crate::http::Params,
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
    let event: Value = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "the body is not a LiveKit webhook event (JSON)",
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let checked = {
        let mut seen = lk
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        check_replay(&mut seen, &event, now)
    };
    match checked {
        Ok(()) => {}
        Err(Replay::Duplicate) => return Ok(Json(json!({"status": "duplicate"}))),
        Err(why) => {
            tracing::warn!(reason = ?why, "livekit webhook refused");
            let (status, code, message) = match why {
                Replay::Stale => (
                    StatusCode::UNAUTHORIZED,
                    "stale_event",
                    "createdAt is more than 300 s from this appliance's clock",
                ),
                Replay::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many webhook events in the last minutes; retry",
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "invalid_event",
                    "the event needs an id and a createdAt (Unix seconds)",
                ),
            };
            return Err(ApiError::new(status, code, message));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_fresh_and_accepted_once() {
        let now = 1_000_000;
        let mut seen = HashMap::new();
        let ev = |id: &str, at: Value| json!({"event": "room_started", "id": id, "createdAt": at});
        assert_eq!(
            check_replay(&mut seen, &ev("EV_1", json!(now.to_string())), now),
            Ok(())
        );
        assert_eq!(
            check_replay(&mut seen, &ev("EV_1", json!(now.to_string())), now + 10),
            Err(Replay::Duplicate)
        );
        assert_eq!(
            check_replay(&mut seen, &ev("EV_2", json!(now - 301)), now),
            Err(Replay::Stale)
        );
        assert_eq!(
            check_replay(&mut seen, &ev("EV_3", json!(now + 301)), now),
            Err(Replay::Stale)
        );
        assert_eq!(
            check_replay(&mut seen, &ev("EV_4", json!(now + 300)), now),
            Ok(())
        );
        assert_eq!(
            check_replay(&mut seen, &ev("", json!(now)), now),
            Err(Replay::Unidentified)
        );
        assert_eq!(
            check_replay(&mut seen, &json!({"id": "EV_5"}), now),
            Err(Replay::Unidentified)
        );
        // Once EV_1 is out of the window it is forgotten, and refused as stale anyway.
        assert_eq!(
            check_replay(&mut seen, &ev("EV_1", json!(now.to_string())), now + 302),
            Err(Replay::Stale)
        );
        assert!(!seen.contains_key("EV_1"));
    }
}
