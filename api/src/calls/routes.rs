//! `/api/calls`: dial (`POST`), list, read one with its transcript, hang up.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::view::CallView;
use super::{DialError, DialRequest};
use crate::http::{date, number};
use crate::http::{ApiError, JsonBody};
use crate::model::{CallQuery, CallStatus, Direction};
use crate::phone::E164;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialBody {
    to: String,
    #[serde(default)]
    agent_profile: Option<String>,
    #[serde(default)]
    prospect_id: Option<String>,
    #[serde(default)]
    delivery_code: Option<String>,
    #[serde(default)]
    campaign_id: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

const LANGS: [&str; 4] = ["nl", "fr", "de", "en"];

impl From<DialError> for ApiError {
    fn from(e: DialError) -> Self {
        let msg = e.to_string();
        match e {
            DialError::OptedOut(_) => {
                ApiError::new(StatusCode::CONFLICT, "phone_opted_out", msg).with_field("to")
            }
            DialError::Capacity(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "capacity", msg),
            DialError::NotConfigured(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "telnyx_not_configured",
                msg,
            ),
            DialError::Carrier(t) => {
                let code = t.code().map(str::to_owned);
                let mut err = ApiError::new(StatusCode::BAD_GATEWAY, "carrier_error", msg);
                if let Some(c) = code {
                    err.message = format!("{} (telnyx code {c})", err.message);
                }
                err
            }
            DialError::Store(s) => s.into(),
        }
    }
}

/// `POST /api/calls`: 201 with the new call, or 200 with the earlier one when the
/// idempotency key (body or `Idempotency-Key` header) was used before.
pub async fn create(
    State(state): State<AppState>,
    actor: crate::http::Actor,
    headers: HeaderMap,
    JsonBody(b): JsonBody<DialBody>,
) -> Result<Response, ApiError> {
    let to = E164::parse_strict(&b.to)
        .map_err(|e| ApiError::invalid("phone_invalid", "to", format!("to: {e}")))?
        .into_string();
    let key = idempotency_key(b.idempotency_key, &headers)?;
    if let Some(l) = &b.lang {
        if !LANGS.contains(&l.as_str()) {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "lang",
                format!("lang must be one of {}", LANGS.join(", ")),
            ));
        }
    }
    if let Some(name) = &b.agent_profile {
        let agents = state.store.list_agents().await?;
        if !agents.iter().any(|a| &a.name == name || &a.id == name) {
            return Err(ApiError::invalid(
                "unknown_agent_profile",
                "agent_profile",
                format!("no agent profile named {name:?}"),
            ));
        }
    }
    if let Some(id) = &b.prospect_id {
        let customer = match state.store.get_customer(id).await {
            Ok(c) => c,
            Err(crate::store::StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    "unknown_prospect",
                    "prospect_id",
                    format!("no prospect {id}"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(code) = &b.delivery_code {
            if !customer.delivery_addresses.iter().any(|d| &d.code == code) {
                return Err(ApiError::invalid(
                    "unknown_delivery",
                    "delivery_code",
                    format!("the prospect has no delivery {code}"),
                ));
            }
        }
    } else if b.delivery_code.is_some() {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "delivery_code",
            "delivery_code needs prospect_id",
        ));
    }
    let (call, replayed) = state
        .telephony
        .dial(DialRequest {
            to,
            agent_profile: b.agent_profile,
            customer_id: b.prospect_id,
            delivery_code: b.delivery_code,
            campaign_id: b.campaign_id,
            lang: b.lang,
            idempotency_key: key,
            call_id: None,
        })
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        let detail = serde_json::json!({ "to": call.phone }).to_string();
        state
            .store
            .append_audit(actor.entry("call.place", call.id.as_str(), detail))
            .await?;
        StatusCode::CREATED
    };
    Ok((status, Json(CallView::from(call))).into_response())
}

/// The dial's idempotency key: from the body or the `Idempotency-Key` header (which
/// must agree), 1 to 200 characters.
fn idempotency_key(
    from_body: Option<String>,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    let header_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                "invalid_parameter",
                "idempotency_key",
                "Idempotency-Key must be text",
            )
        })?;
    let key = match (from_body, header_key) {
        (Some(a), Some(h)) if a != h => {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "idempotency_key",
                "the body and the Idempotency-Key header disagree",
            ))
        }
        (a, h) => a.or(h),
    };
    if let Some(k) = &key {
        if k.is_empty() || k.len() > 200 {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "idempotency_key",
                "idempotency_key must hold 1 to 200 characters",
            ));
        }
    }
    Ok(key)
}

/// `GET /api/calls?status=&direction=&from=&to=&phone=&campaign=&page=&page_size=` (newest first).
pub async fn list(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
) -> Result<Json<crate::http::Paged<CallView>>, ApiError> {
    let status = match params
        .get("status")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => Some(CallStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = CallStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(
                "invalid_parameter",
                "status",
                format!("status must be one of {}", all.join(", ")),
            )
        })?),
    };
    let direction = match params
        .get("direction")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => Some(Direction::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "invalid_parameter",
                "direction",
                "direction must be one of outbound, inbound, studio",
            )
        })?),
    };
    let phone = match params
        .get("phone")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => Some(
            E164::normalize(p, state.region)
                .map_err(|e| ApiError::invalid("phone_invalid", "phone", format!("phone: {e}")))?
                .into_string(),
        ),
    };
    let page = number(&params, "page", 1, 1_000_000)?;
    let page_size = number(&params, "page_size", 50, 500)?;
    let result = state
        .store
        .list_calls(&CallQuery {
            status,
            direction,
            from: date(&params, "from")?,
            to: date(&params, "to")?,
            phone,
            campaign_id: params.get("campaign").cloned().filter(|c| !c.is_empty()),
            customer_id: None,
            owner_epoch: None,
            offset: (page - 1) * page_size,
            limit: page_size,
        })
        .await?;
    Ok(Json(crate::http::Paged {
        items: result.items.into_iter().map(CallView::from).collect(),
        page,
        page_size,
        has_more: result.has_more,
    }))
}

/// The call with its transcript, and its revision (which changes whenever either does).
async fn view(state: &AppState, id: &str) -> Result<CallView, ApiError> {
    let call = state.store.get_call(id).await?;
    let turns = state.store.list_turns(id).await?;
    let revision = format!("{}.{}", call.version, turns.len());
    let mut view = CallView::from(call);
    view.transcript = Some(turns);
    view.revision = revision;
    Ok(view)
}

/// Longest wait a client may ask for (`wait`, seconds).
const MAX_WAIT_SECS: u64 = 30;

/// `GET /api/calls/{id}`; with `?after=<revision>` a long poll: it answers once the
/// call's revision differs from `after` (its record or its transcript changed), or
/// after `wait` seconds (1 to 30, default 25) with the call as it is.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::http::Params(params): crate::http::Params,
) -> Result<Json<CallView>, ApiError> {
    let Some(after) = params.get("after").cloned() else {
        return Ok(Json(view(&state, &id).await?));
    };
    let wait = number(&params, "wait", 25, MAX_WAIT_SECS)?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    // Subscribed before reading: a change between the read and the wait is not missed.
    let mut changes = state.telephony().changes();
    loop {
        let current = view(&state, &id).await?;
        if current.revision != after || !changed_by(&mut changes, &id, deadline).await {
            return Ok(Json(current));
        }
    }
}

/// Waits until call `id` changes (`true`), or the deadline passes (`false`).
async fn changed_by(
    changes: &mut tokio::sync::broadcast::Receiver<String>,
    id: &str,
    deadline: tokio::time::Instant,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return false,
            Ok(Ok(changed)) if changed == id => return true,
            // Missed some: the call may be among them.
            Ok(Err(RecvError::Lagged(_))) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `POST /api/calls/{id}/hangup`
pub async fn hangup(
    State(state): State<AppState>,
    actor: crate::http::Actor,
    Path(id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    let call = state.telephony.hangup(&id).await?;
    state
        .store
        .append_audit(actor.entry("call.hangup", &id, String::new()))
        .await?;
    Ok(Json(CallView::from(call)))
}
