//! `GET /api/calls/live` and `GET /api/calls/live/events` (Server-Sent Events): the
//! bridge's live calls, then the other appliances' (from the cluster's directory), with
//! what the store knows about them (phone, prospect, campaign, agent profile, the
//! appliance holding it), and a stream of calls starting, changing state and ending.

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
    /// The campaign's name, while the campaign exists.
    pub campaign_name: Option<String>,
    pub agent_profile: Option<String>,
    /// The appliance holding the call (its node name).
    pub node: Option<String>,
    /// Held by this appliance: listen-in, takeover and whisper work from here (another
    /// appliance's call is listed, and can be hung up, but not yet listened to).
    pub local: bool,
}

async fn view(state: &AppState, live: LiveCall, local: bool) -> LiveView {
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
    let campaign_name = match call.as_ref().and_then(|c| c.campaign_id.as_deref()) {
        Some(id) => state.store.get_campaign(id).await.ok().map(|c| c.name),
        None => None,
    };
    LiveView {
        campaign_name,
        phone: call.as_ref().map(|c| c.phone.clone()),
        direction: call.as_ref().map(|c| c.direction),
        prospect_id: call
            .as_ref()
            .and_then(|c| c.customer_id.clone().map(String::from)),
        prospect_name: name,
        campaign_id: call.as_ref().and_then(|c| c.campaign_id.clone()),
        agent_profile: call.as_ref().and_then(|c| c.agent_profile.clone()),
        node: call
            .as_ref()
            .and_then(|c| c.owner.as_ref().map(|o| o.node.clone())),
        local,
        live,
    }
}

#[derive(Serialize)]
pub struct LivePage {
    items: Vec<LiveView>,
}

/// This appliance's live calls, then the other appliances' (`false`).
fn all_live(state: &AppState) -> Vec<(LiveCall, bool)> {
    let mut calls: Vec<(LiveCall, bool)> = state
        .bridge
        .live()
        .list()
        .into_iter()
        .map(|c| (c, true))
        .collect();
    if let Some(d) = &state.directory {
        calls.extend(d.list().into_iter().map(|r| (r.live, false)));
    }
    calls
}

/// `GET /api/calls/live`
pub async fn list(State(state): State<AppState>) -> Result<Json<LivePage>, ApiError> {
    let mut items = Vec::new();
    for (call, local) in all_live(&state) {
        items.push(view(&state, call, local).await);
    }
    Ok(Json(LivePage { items }))
}

/// `GET /api/calls/live/events`: a `snapshot` event with the live calls, then
/// `call.started` / `call.updated` / `call.ended` events (each with the call), a
/// `levels` event every [`LEVELS_EVERY`] while calls are live (every call's audio
/// levels in one event: a console with 200 calls gets 2 events a second, not 800), a
/// `resync` event if this client fell behind (it should read the list again), and a
/// keep-alive comment after 15 s without an event. Ends when the appliance drains.
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.bridge.live().subscribe();
    let remote = state.directory.as_ref().map(|d| d.subscribe());
    let mut snapshot = Vec::new();
    for (call, local) in all_live(&state) {
        snapshot.push(view(&state, call, local).await);
    }
    let first = Event::default()
        .event("snapshot")
        .data(serde_json::to_string(&serde_json::json!({"items": snapshot})).unwrap_or_default());
    let mut levels = tokio::time::interval(LEVELS_EVERY);
    levels.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        first: Some(first),
        rx,
        remote,
        state,
        levels,
        quiet_since: tokio::time::Instant::now(),
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        feed.quiet_since = tokio::time::Instant::now();
        Some((Ok(event), feed))
    });
    Sse::new(stream)
}

/// How often the `levels` event is sent while calls are live.
pub const LEVELS_EVERY: Duration = Duration::from_millis(500);

/// One subscriber's stream of live-call events.
struct Feed {
    first: Option<Event>,
    rx: tokio::sync::broadcast::Receiver<agent5_bridge::live::LiveEvent>,
    /// The other appliances' calls (see `cluster::Directory`).
    remote: Option<tokio::sync::broadcast::Receiver<agent5_bridge::live::LiveEvent>>,
    state: AppState,
    levels: tokio::time::Interval,
    quiet_since: tokio::time::Instant,
}

#[derive(Serialize)]
struct Levels {
    call_id: String,
    caller_level: f32,
    agent_level: f32,
}

impl Feed {
    /// The next event; `None` ends the stream (draining, or the bridge closed).
    async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.first.take() {
            return Some(e);
        }
        let bridge = self.state.bridge.clone();
        loop {
            let keep_alive = self.quiet_since + KEEP_ALIVE;
            let next = tokio::select! {
                () = bridge.draining() => return None,
                () = tokio::time::sleep_until(keep_alive) => {
                    return Some(Event::default().comment("keep-alive"));
                }
                _ = self.levels.tick() => {
                    let items: Vec<Levels> = bridge.live().list().into_iter().map(|c| Levels {
                        call_id: c.call_id,
                        caller_level: c.caller_level,
                        agent_level: c.agent_level,
                    }).collect();
                    if items.is_empty() {
                        continue;
                    }
                    let data = serde_json::to_string(&serde_json::json!({"items": items})).unwrap_or_default();
                    return Some(Event::default().event("levels").data(data));
                }
                r = self.rx.recv() => r.map(|ev| (ev, true)),
                r = next_remote(&mut self.remote) => r.map(|ev| (ev, false)),
            };
            return match next {
                Ok((ev, local)) => {
                    let kind = ev.kind;
                    let data = serde_json::to_string(&view(&self.state, ev.call, local).await)
                        .unwrap_or_default();
                    Some(Event::default().event(kind).data(data))
                }
                Err(RecvError::Lagged(n)) => {
                    Some(Event::default().event("resync").data(n.to_string()))
                }
                Err(RecvError::Closed) => None,
            };
        }
    }
}

/// The next event of the other appliances' calls; never, without a directory.
async fn next_remote(
    rx: &mut Option<tokio::sync::broadcast::Receiver<agent5_bridge::live::LiveEvent>>,
) -> Result<agent5_bridge::live::LiveEvent, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
