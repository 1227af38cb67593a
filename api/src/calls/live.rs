//! `GET /api/calls/live` and `GET /api/calls/live/events` (Server-Sent Events): the
//! bridge's live calls with what the store knows about them (phone, prospect, campaign,
//! agent profile), and a stream of calls starting, changing state and ending.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::Json;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use agent5_bridge::live::LiveCall;

use crate::http::ApiError;
use crate::model::Direction;
use crate::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize)]
pub struct LiveView {
    #[serde(flatten)]
    pub live: LiveCall,
    pub phone: Option<String>,
    pub direction: Option<Direction>,
    pub prospect_id: Option<String>,
    pub prospect_name: Option<String>,
    pub campaign_id: Option<String>,
    pub agent_profile: Option<String>,
}

async fn view(state: &AppState, live: LiveCall) -> LiveView {
    let call = state.store.get_call(&live.call_id).await.ok();
    let customer = match call.as_ref().and_then(|c| c.customer_id.as_deref()) {
        Some(id) => state.store.get_customer(id).await.ok(),
        None => None,
    };
    let name = customer.map(|c| {
        if c.invoice.company.is_empty() {
            c.invoice.name
        } else if c.invoice.name.is_empty() {
            c.invoice.company
        } else {
            format!("{} ({})", c.invoice.name, c.invoice.company)
        }
    });
    LiveView {
        phone: call.as_ref().map(|c| c.phone.clone()),
        direction: call.as_ref().map(|c| c.direction),
        prospect_id: call
            .as_ref()
            .and_then(|c| c.customer_id.clone().map(String::from)),
        prospect_name: name,
        campaign_id: call.as_ref().and_then(|c| c.campaign_id.clone()),
        agent_profile: call.as_ref().and_then(|c| c.agent_profile.clone()),
        live,
    }
}

#[derive(Serialize)]
pub struct LivePage {
    items: Vec<LiveView>,
}

/// `GET /api/calls/live`
pub async fn list(State(state): State<AppState>) -> Result<Json<LivePage>, ApiError> {
    let mut items = Vec::new();
    for call in state.bridge.live().list() {
        items.push(view(&state, call).await);
    }
    Ok(Json(LivePage { items }))
}

/// `GET /api/calls/live/events`: a `snapshot` event with the live calls, then
/// `call.started` / `call.updated` / `call.ended` events (each with the call), a
/// `resync` event if this client fell behind (it should read the list again), and a
/// keep-alive comment every 15 s. Ends when the appliance drains.
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.bridge.live().subscribe();
    let mut snapshot = Vec::new();
    for call in state.bridge.live().list() {
        snapshot.push(view(&state, call).await);
    }
    let first = Event::default()
        .event("snapshot")
        .data(serde_json::to_string(&serde_json::json!({"items": snapshot})).unwrap_or_default());
    let stream = futures_util::stream::unfold(
        (Some(first), rx, state),
        |(first, mut rx, state)| async move {
            if let Some(e) = first {
                return Some((Ok(e), (None, rx, state)));
            }
            let bridge = state.bridge.clone();
            let next = tokio::select! {
                () = bridge.draining() => return None,
                r = tokio::time::timeout(KEEP_ALIVE, rx.recv()) => r,
            };
            let event = match next {
                Err(_) => Event::default().comment("keep-alive"),
                Ok(Ok(ev)) => {
                    let kind = ev.kind;
                    let data =
                        serde_json::to_string(&view(&state, ev.call).await).unwrap_or_default();
                    Event::default().event(kind).data(data)
                }
                Ok(Err(RecvError::Lagged(n))) => {
                    Event::default().event("resync").data(n.to_string())
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            Some((Ok(event), (None, rx, state)))
        },
    );
    Sse::new(stream)
}
