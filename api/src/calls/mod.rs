//! Calls: the Telnyx settings, `Telephony` (the carrier and the call records, shared
//! by the handlers and the webhook workers), applying webhook events to call records
//! and the long-poll change feed. Dialling is `dial.rs`, the HTTP handlers `routes.rs`,
//! the status logic `state.rs`.

pub mod agents;
mod dial;
pub mod hooks;
pub mod live;
pub mod recordings;
pub mod routes;
pub mod state;
pub mod view;

pub use dial::{stream_token, token_hash, DialError, DialRequest};

/// The call routes: dialling, the list, one call, hang-up, the live list, recordings and
/// agent profiles.
pub fn routes() -> axum::Router<crate::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/calls", get(routes::list).post(routes::create))
        .route("/api/calls/live", get(live::list))
        .route("/api/calls/live/events", get(live::events))
        .route("/api/calls/{id}", get(routes::get))
        .route("/api/calls/{id}/hangup", post(routes::hangup))
        .route("/api/calls/{id}/recording", get(recordings::by_call))
        .route("/recordings/{file}", get(recordings::by_file))
        .route("/api/agents", get(agents::list).post(agents::create))
        .route(
            "/api/agents/{id}",
            get(agents::get)
                .patch(agents::update)
                .delete(agents::delete),
        )
}

use std::sync::Arc;
use std::time::Duration;

use crate::integrations::telnyx::client::{CallControl, Retry, StreamParams, DEFAULT_API_BASE};
use crate::integrations::telnyx::events::{client_state, Event, EventKind};
use crate::integrations::telnyx::signature::{
    Clock, PublicKey, SystemClock, Verifier, DEFAULT_TOLERANCE_SECS,
};
use crate::metrics::ApiMetrics;
use crate::model::{
    new_id, now_millis, Call, CallFacts, CallStatus, Direction, ProspectQuery, Scope,
};
use crate::store::{SharedStore, StoreError, StoreResult};

/// What the appliance needs to know about its Telnyx account.
#[derive(Clone)]
pub struct TelnyxSettings {
    pub api_base: String,
    pub api_key: Option<String>,
    pub connection_id: Option<String>,
    /// The number outbound calls are from.
    pub from_number: Option<String>,
    /// The media WebSocket URL handed to Telnyx (`wss://host/websocket`).
    pub stream_url: Option<String>,
    pub public_key: Option<PublicKey>,
    pub verify_signatures: bool,
    pub tolerance_secs: u64,
    /// `PCMU` or `PCMA`.
    pub codec: String,
    /// Telnyx `answering_machine_detection` (`detect`, `premium`, ..., `disabled`).
    pub amd: String,
    pub hangup_on_machine: bool,
    pub answer_inbound: bool,
    pub max_concurrent_calls: u64,
    pub request_timeout: Duration,
    pub retry: Retry,
    /// How long an outbound call may ring.
    pub ring_timeout_secs: u32,
    /// Where the agent's `transfer` tool sends the call (a human's number).
    pub transfer_to: Option<String>,
    pub clock: Arc<dyn Clock>,
    /// This appliance life: every call it creates records it as its owner.
    pub identity: Arc<crate::cluster::Identity>,
}

impl std::fmt::Debug for TelnyxSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnyxSettings")
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connection_id", &self.connection_id)
            .field("stream_url", &self.stream_url)
            .field("verify_signatures", &self.verify_signatures)
            .finish_non_exhaustive()
    }
}

impl Default for TelnyxSettings {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            api_key: None,
            connection_id: None,
            from_number: None,
            stream_url: None,
            public_key: None,
            verify_signatures: true,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            codec: "PCMU".into(),
            amd: "detect".into(),
            hangup_on_machine: true,
            answer_inbound: true,
            max_concurrent_calls: 20,
            request_timeout: Duration::from_secs(10),
            retry: Retry::default(),
            ring_timeout_secs: 30,
            transfer_to: None,
            clock: Arc::new(SystemClock),
            identity: Arc::new(crate::cluster::Identity::default()),
        }
    }
}

/// The hang-up cause of a call whose appliance died.
pub const NODE_LOST: &str = "node_lost";

/// Calls and the carrier, shared by the handlers and the webhook workers.
pub struct Telephony {
    pub settings: TelnyxSettings,
    pub store: SharedStore,
    pub metrics: ApiMetrics,
    client: Option<CallControl>,
    verifier: Verifier,
    /// Serialises the capacity check with the creation of the call record.
    admission: tokio::sync::Mutex<()>,
    /// The id of every call that changed (record or transcript), for long polls.
    changes: tokio::sync::broadcast::Sender<String>,
}

impl std::fmt::Debug for Telephony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telephony")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Call changes kept for long polls that have not read them yet.
const CHANGES_BUFFER: usize = 1024;

impl Telephony {
    pub fn new(
        store: SharedStore,
        settings: TelnyxSettings,
        metrics: ApiMetrics,
    ) -> Result<Self, crate::integrations::ClientError> {
        let client = match &settings.api_key {
            Some(key) => Some(CallControl::new(
                &settings.api_base,
                key,
                settings.request_timeout,
                settings.retry,
            )?),
            None => None,
        };
        let verifier = Verifier::new(
            settings.public_key.clone(),
            settings.tolerance_secs,
            Arc::clone(&settings.clock),
        );
        Ok(Self {
            settings,
            store,
            metrics,
            client,
            verifier,
            admission: tokio::sync::Mutex::new(()),
            changes: tokio::sync::broadcast::channel(CHANGES_BUFFER).0,
        })
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn client(&self) -> Option<&CallControl> {
        self.client.as_ref()
    }

    fn command_result(&self, command: &str, ok: bool) {
        self.metrics
            .telnyx_commands
            .with_label_values(&[command, if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Tells long polls that call `id` changed (its record or its transcript).
    pub fn changed(&self, id: &str) {
        // No receiver is not an error: nobody waits.
        let _ = self.changes.send(id.to_owned());
    }

    /// Every change from now on (a lagging receiver is told it missed some).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Reads, changes and writes a call, retrying when a webhook wrote it meanwhile.
    pub async fn update(&self, id: &str, mut change: impl FnMut(&mut Call)) -> StoreResult<Call> {
        for _ in 0..16 {
            let mut call = self.store.get_call(id).await?;
            let before = call.clone();
            change(&mut call);
            if call == before {
                return Ok(call);
            }
            call.updated_at = now_millis().max(call.updated_at);
            match self.store.update_call(call).await {
                Ok(saved) => {
                    self.count_end(before.status, saved.status);
                    self.changed(id);
                    return Ok(saved);
                }
                Err(StoreError::Conflict { field }) if field == "version" => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "call {id} kept changing; gave up"
        )))
    }

    fn count_end(&self, before: CallStatus, after: CallStatus) {
        if before.is_live() && !after.is_live() {
            self.metrics
                .calls_ended
                .with_label_values(&[after.as_str()])
                .inc();
        }
    }

    /// Hangs up a call at the operator's request.
    pub async fn hangup(&self, id: &str) -> Result<Call, DialError> {
        let call = self.store.get_call(id).await?;
        if !call.status.is_live() {
            return Ok(call);
        }
        let call = self
            .update(id, |c| {
                c.facts.hangup_requested.get_or_insert_with(|| "api".into());
            })
            .await?;
        if let (Some(client), Some(ccid)) = (&self.client, &call.call_control_id) {
            let res = client.hangup(ccid).await;
            self.command_result("hangup", res.is_ok());
            res.map_err(DialError::Carrier)?;
        }
        Ok(call)
    }

    /// Ends a call whose appliance was lost (see `cluster`): `node_lost` on the record,
    /// then a hang-up at the carrier so the person is not left in dead air (a failed
    /// hang-up is counted; the record is ended either way).
    pub async fn end_node_lost(&self, id: &str) -> StoreResult<()> {
        let now = now_millis();
        let call = self
            .update(id, |c| {
                if c.ended_at.is_some() {
                    return;
                }
                c.facts
                    .hangup_requested
                    .get_or_insert_with(|| NODE_LOST.into());
                c.hangup_cause = Some(NODE_LOST.into());
                c.ended_at = Some(now);
                state::refresh(c);
            })
            .await?;
        if let (Some(client), Some(ccid)) = (&self.client, &call.call_control_id) {
            let res = client.hangup(ccid).await;
            self.command_result("hangup", res.is_ok());
            if let Err(e) = res {
                tracing::warn!(call_id = %id, error = %e, "hang-up of a lost appliance's call failed");
            }
        }
        Ok(())
    }

    /// Applies one webhook event to its call (creating the record of a new inbound
    /// call), then runs what the state machine asks for on the carrier.
    pub async fn process(&self, event: &Event) -> StoreResult<()> {
        self.metrics
            .webhook_events
            .with_label_values(&[event.kind.label()])
            .inc();
        let p = &event.payload;
        let mut found = None;
        if let Some(id) = p.our_call_id() {
            match self.store.get_call(&id).await {
                Ok(c) => found = Some(c),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        if found.is_none() {
            if let Some(ccid) = &p.call_control_id {
                match self.store.find_call_by_control_id(ccid).await {
                    Ok(c) => found = Some(c),
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let call = match found {
            Some(c) => c,
            None if event.kind == EventKind::Initiated
                && p.direction.as_deref() == Some("incoming") =>
            {
                return self.inbound(event).await;
            }
            None => {
                self.metrics.webhook_orphans.inc();
                tracing::info!(event_type = %event.event_type, event_id = %event.id, "webhook for an unknown call");
                return Ok(());
            }
        };
        let mut actions = Vec::new();
        let ccid = p.call_control_id.clone();
        let saved = self
            .update(&call.id, |c| {
                if c.call_control_id.is_none() {
                    c.call_control_id.clone_from(&ccid);
                }
                actions = state::apply(c, event);
            })
            .await?;
        for action in actions {
            match action {
                state::Action::Hangup { reason } => {
                    if let (Some(client), Some(ccid)) = (&self.client, &saved.call_control_id) {
                        let res = client.hangup(ccid).await;
                        self.command_result("hangup", res.is_ok());
                        if let Err(e) = res {
                            tracing::warn!(call_id = %saved.id, reason, error = %e, "hang-up failed");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A new inbound call: recorded with the caller's prospect and DNC status, then
    /// answered with streaming to our media URL unless inbound answering is off.
    async fn inbound(&self, event: &Event) -> StoreResult<()> {
        let p = &event.payload;
        let caller = p.from.clone().unwrap_or_default();
        let customer_id = if caller.is_empty() {
            None
        } else {
            self.store
                .list_prospects(&ProspectQuery {
                    scope: Scope::Both,
                    phones: vec![caller.clone()],
                    show_archived: true,
                    limit: 1,
                    ..ProspectQuery::default()
                })
                .await?
                .items
                .first()
                .map(|r| r.customer_id.clone())
        };
        let opted_out = !caller.is_empty()
            && !self
                .store
                .dnc_lookup(std::slice::from_ref(&caller))
                .await?
                .is_empty();
        let (token, hash) = stream_token();
        let now = now_millis();
        let started = if event.occurred_at > 0 {
            event.occurred_at
        } else {
            now
        };
        let mut call = Call {
            call_control_id: p.call_control_id.clone(),
            customer_id,
            stream_token_hash: Some(hash),
            facts: CallFacts {
                from: p.from.clone(),
                caller_opted_out: opted_out,
                ..CallFacts::default()
            },
            owner: Some(self.settings.identity.owner()),
            updated_at: now,
            ..Call::new(new_id(), Direction::Inbound, caller, started)
        };
        state::apply(&mut call, event);
        let call = match self.store.create_call(call).await {
            Ok(c) => c,
            // A replay of the same initiated event: the call exists already.
            Err(StoreError::Conflict { field }) if field == "call_control_id" => return Ok(()),
            Err(e) => return Err(e),
        };
        self.changed(&call.id);
        let s = &self.settings;
        let (Some(client), Some(ccid), Some(url)) =
            (&self.client, &call.call_control_id, &s.stream_url)
        else {
            return Ok(());
        };
        if !s.answer_inbound {
            tracing::info!(call_id = %call.id, "inbound call not answered: telnyx.answer_inbound is off");
            return Ok(());
        }
        let base = dial::own_stream_base(url, &s.identity.public_url);
        let stream = StreamParams::new(dial::stream_url_for(&base, &call.id), &s.codec, token);
        let res = client.answer(ccid, &stream, &client_state(&call.id)).await;
        self.command_result("answer", res.is_ok());
        if let Err(e) = res {
            tracing::warn!(call_id = %call.id, error = %e, "answering an inbound call failed");
        }
        Ok(())
    }
}
