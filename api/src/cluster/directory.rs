//! The live calls of the other appliances, for this one's Monitor. Every call record
//! names the appliance life that holds it, so one reader per appliance (whatever the
//! number of browsers) follows the other lives' calls and publishes the same
//! `call.started` / `call.updated` / `call.ended` events the bridge publishes for its
//! own calls.
//!
//! On MongoDB (a replica set) the reader follows a change stream on the calls: the
//! stream is opened first, then the live calls are listed, then every change is
//! applied — a change made between the opening and the list is applied again, which
//! changes nothing, so there is no gap. When the stream fails it is opened and the list
//! read again the same way (the driver itself resumes from its resume token across
//! transient errors). Where there are no change streams (SQLite, a MongoDB that is not
//! a replica set) the reader lists the live calls every `every` and compares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent5_bridge::live::{LiveCall, LiveEvent};
use futures_util::StreamExt;
use prometheus::IntGauge;
use tokio::sync::broadcast;

use super::Identity;
use crate::model::{Call, CallQuery, CallStatus};
use crate::store::{SharedStore, StoreResult};

/// Live calls read per status in one pass (the appliance-wide caps are far below).
const PAGE: u64 = 1000;

/// A call another appliance holds, as the Monitor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCall {
    pub live: LiveCall,
    /// The appliance (node name) that holds it.
    pub node: String,
}

pub struct Directory {
    store: SharedStore,
    identity: Arc<Identity>,
    every: Duration,
    calls: Mutex<HashMap<String, RemoteCall>>,
    events: broadcast::Sender<LiveEvent>,
    /// `agent5_cluster_directory_watching`: 1 while a change stream is followed, 0
    /// while polling.
    watching: IntGauge,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// How the Monitor shows a call it only knows from the store: its media stream is open
/// (the appliance holding it said so) and it has not ended; levels are not shared
/// between appliances (0).
fn live_of(call: &Call) -> Option<LiveCall> {
    let since = call.facts.media_connected_at?;
    if call.ended_at.is_some() || !call.status.is_live() {
        return None;
    }
    Some(LiveCall {
        call_id: call.id.to_string(),
        state: if call.answered_at.is_some() {
            "streaming"
        } else {
            "ringing"
        },
        controller: if call.facts.taken_over {
            "operator".into()
        } else {
            "agent".into()
        },
        since,
        answered_at: call.answered_at,
        caller_level: 0.0,
        agent_level: 0.0,
    })
}

impl Directory {
    pub fn new(store: SharedStore, identity: Arc<Identity>, every: Duration) -> Self {
        Self {
            store,
            identity,
            every,
            calls: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            watching: new_gauge(),
        }
    }

    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.watching.clone()))
    }

    /// Whether a change stream is being followed (else the store is polled).
    pub fn watching(&self) -> bool {
        self.watching.get() == 1
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, RemoteCall>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The other appliances' live calls as last read, oldest first.
    pub fn list(&self) -> Vec<RemoteCall> {
        let mut all: Vec<RemoteCall> = self.calls().values().cloned().collect();
        all.sort_by(|a, b| (a.live.since, &a.live.call_id).cmp(&(b.live.since, &b.live.call_id)));
        all
    }

    /// The appliance holding `call_id`, when it is another one's live call.
    pub fn node_of(&self, call_id: &str) -> Option<String> {
        self.calls().get(call_id).map(|c| c.node.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Follows the other appliances' calls for as long as the process runs: through a
    /// change stream where the store has them, else by polling every `every`.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.store.watch_calls().await {
                Ok(Some(changes)) => {
                    self.watching.set(1);
                    tracing::info!("following the other appliances' calls through a change stream");
                    // Listed after the stream is open: nothing falls between the two.
                    match self.refresh().await {
                        Ok(()) => self.follow(changes).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "listing other appliances' live calls failed");
                        }
                    }
                    self.watching.set(0);
                }
                Ok(None) => return self.poll().await,
                Err(e) => {
                    tracing::warn!(error = %e, "opening the calls' change stream failed; retrying");
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }

    /// Applies each change until the stream ends or fails.
    async fn follow(&self, mut changes: crate::store::CallChanges) {
        while let Some(change) = changes.next().await {
            match change {
                Ok(call) => self.apply(&call),
                Err(e) => {
                    tracing::warn!(error = %e, "the calls' change stream failed; opening it again");
                    return;
                }
            }
        }
        tracing::warn!("the calls' change stream ended; opening it again");
    }

    /// One call as it now is: started, changed or ended on this Monitor.
    pub fn apply(&self, call: &Call) {
        let Some(owner) = call.owner.as_ref() else {
            return;
        };
        if owner.epoch == self.identity.epoch() {
            return;
        }
        let id = call.id.to_string();
        let now = live_of(call).map(|live| RemoteCall {
            live,
            node: owner.node.clone(),
        });
        let event = {
            let mut seen = self.calls();
            match (seen.get(&id), now) {
                (None, Some(c)) => {
                    let live = c.live.clone();
                    seen.insert(id, c);
                    Some(("call.started", live))
                }
                (Some(before), Some(c)) if *before != c => {
                    let live = c.live.clone();
                    seen.insert(id, c);
                    Some(("call.updated", live))
                }
                (Some(_), None) => seen.remove(&id).map(|c| ("call.ended", c.live)),
                _ => None,
            }
        };
        if let Some((kind, call)) = event {
            // Nobody listening is fine.
            let _ = self.events.send(LiveEvent { kind, call });
        }
    }

    /// Lists the store every `every` (no change streams).
    async fn poll(&self) {
        tracing::info!("no change streams on this store: polling the other appliances' live calls");
        let mut every = tokio::time::interval(self.every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "reading other appliances' live calls failed");
            }
        }
    }

    /// One pass: reads the other lives' live calls and publishes what changed. Alone on
    /// the store (a single appliance), a pass is one read of the few node records.
    pub async fn refresh(&self) -> StoreResult<()> {
        let own = self.identity.epoch();
        let others = self
            .store
            .list_nodes()
            .await?
            .iter()
            .any(|n| n.node.epoch != own && n.lost_at.is_none());
        if !others && self.calls().is_empty() {
            return Ok(());
        }
        let mut now = HashMap::new();
        for status in CallStatus::LIVE {
            let page = self
                .store
                .list_calls(&CallQuery {
                    status: Some(status),
                    limit: PAGE,
                    ..CallQuery::default()
                })
                .await?;
            for call in page.items {
                let Some(owner) = call.owner.as_ref().filter(|o| o.epoch != own) else {
                    continue;
                };
                if let Some(live) = live_of(&call) {
                    let node = owner.node.clone();
                    now.insert(live.call_id.clone(), RemoteCall { live, node });
                }
            }
        }
        let mut events = Vec::new();
        {
            let mut seen = self.calls();
            for (id, c) in &now {
                match seen.get(id) {
                    None => events.push(("call.started", c.live.clone())),
                    Some(before) if before != c => events.push(("call.updated", c.live.clone())),
                    Some(_) => {}
                }
            }
            for (id, c) in seen.iter() {
                if !now.contains_key(id) {
                    events.push(("call.ended", c.live.clone()));
                }
            }
            *seen = now;
        }
        for (kind, call) in events {
            // Nobody listening is fine.
            let _ = self.events.send(LiveEvent { kind, call });
        }
        Ok(())
    }
}

#[allow(clippy::expect_used)]
fn new_gauge() -> IntGauge {
    // A constant name: construction cannot fail.
    IntGauge::new(
        "agent5_cluster_directory_watching",
        "1 while the other appliances' calls are followed through a change stream, 0 while polled",
    )
    .expect("valid metric")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Direction;

    #[test]
    fn only_a_call_with_its_media_open_and_not_ended_is_live() {
        let mut call = Call::new("c1", Direction::Outbound, "+3247".into(), 5);
        call.status = CallStatus::Ringing;
        assert_eq!(live_of(&call), None, "no media stream yet");
        call.facts.media_connected_at = Some(7);
        let live = live_of(&call).expect("live");
        assert_eq!(
            (live.state, live.since, live.controller.as_str()),
            ("ringing", 7, "agent")
        );
        call.status = CallStatus::Streaming;
        call.answered_at = Some(8);
        call.facts.taken_over = true;
        let live = live_of(&call).expect("live");
        assert_eq!(
            (live.state, live.controller.as_str()),
            ("streaming", "operator")
        );
        call.ended_at = Some(9);
        assert_eq!(live_of(&call), None);
    }
}
