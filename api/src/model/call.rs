//! A call: its record with the carrier's facts, its timeline in causal order, its
//! recording and transcript turns, and the list query.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Millis;

/// Where a call is in its life (derived from the carrier's facts by `calls::state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Dialing,
    Ringing,
    Answered,
    Streaming,
    /// Ended after it was answered.
    Ended,
    Failed,
    NoAnswer,
    Busy,
    /// Answering-machine detection said `machine` on a call that hangs up on machines.
    Machine,
}

impl CallStatus {
    /// Every status, in the order a call walks them.
    pub const ALL: [Self; 9] = [
        Self::Dialing,
        Self::Ringing,
        Self::Answered,
        Self::Streaming,
        Self::Ended,
        Self::Failed,
        Self::NoAnswer,
        Self::Busy,
        Self::Machine,
    ];
    /// Statuses of a call that is still going (what the concurrency cap counts).
    pub const LIVE: [Self; 4] = [
        Self::Dialing,
        Self::Ringing,
        Self::Answered,
        Self::Streaming,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dialing => "dialing",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Streaming => "streaming",
            Self::Ended => "ended",
            Self::Failed => "failed",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Machine => "machine",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }
}

impl std::fmt::Display for CallStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
    /// An Agent Studio session (a browser talking to the agent; no carrier).
    Studio,
}

impl Direction {
    pub const ALL: [Self; 3] = [Self::Outbound, Self::Inbound, Self::Studio];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
            Self::Studio => "studio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Where a recording is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    /// Where it is stored: a file under the recordings directory, or a carrier URL.
    pub location: String,
    pub format: String,
    pub bytes: u64,
    pub duration_ms: u64,
}

/// One state change of a call, for its timeline. The timeline is in causal order (the
/// order a call walks its states), not in `at` order: `at` is kept exactly as the clock
/// that reported it said, and the carrier's clock and ours disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: CallStatus,
    pub at: Millis,
    /// Whose clock `at` comes from: [`Clock::Appliance`] or [`Clock::Carrier`].
    #[serde(default)]
    pub clock: Clock,
}

/// The clock a timestamp was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// This appliance's clock (a dial, a failed dial).
    #[default]
    Appliance,
    /// The carrier's `occurred_at` on a webhook.
    Carrier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: super::CallId,
    /// Telnyx's id, once the carrier gave one. Unique when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_control_id: Option<String>,
    /// The client's idempotency key for `POST /api/calls`. Unique when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub direction: Direction,
    pub phone: String,
    pub status: CallStatus,
    #[serde(default)]
    pub customer_id: Option<super::CustomerId>,
    #[serde(default)]
    pub delivery_code: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub agent_profile: Option<String>,
    /// SHA-256 (hex) of the per-call media stream token; the token itself is never stored.
    #[serde(default)]
    pub stream_token_hash: Option<String>,
    pub started_at: Millis,
    #[serde(default)]
    pub answered_at: Option<Millis>,
    #[serde(default)]
    pub ended_at: Option<Millis>,
    #[serde(default)]
    pub hangup_cause: Option<String>,
    #[serde(default)]
    pub amd_result: Option<String>,
    #[serde(default)]
    pub recording: Option<RecordingMeta>,
    #[serde(default)]
    pub timeline: Vec<StatusChange>,
    #[serde(default)]
    pub extra: Value,
    /// What the carrier reported, kept so the status can be derived again whatever
    /// order the webhooks arrive in (see `calls::state`).
    #[serde(default)]
    pub facts: CallFacts,
    /// The appliance life that holds the call (see `cluster`): its calls are ended as
    /// `node_lost` if it dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<CallOwner>,
    pub updated_at: Millis,
    pub version: i64,
}

/// A node and the epoch (process life) of it that holds a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOwner {
    pub node: String,
    pub epoch: String,
}

impl Call {
    /// A call record in `dialing` with nothing else known yet; fill the rest with
    /// struct update syntax.
    pub fn new(
        id: impl Into<super::CallId>,
        direction: Direction,
        phone: String,
        started_at: Millis,
    ) -> Self {
        Self {
            id: id.into(),
            call_control_id: None,
            idempotency_key: None,
            direction,
            phone,
            status: CallStatus::Dialing,
            customer_id: None,
            delivery_code: None,
            campaign_id: None,
            agent_profile: None,
            stream_token_hash: None,
            started_at,
            answered_at: None,
            ended_at: None,
            hangup_cause: None,
            amd_result: None,
            recording: None,
            timeline: Vec::new(),
            extra: Value::Null,
            facts: CallFacts::default(),
            owner: None,
            updated_at: started_at,
            version: 0,
        }
    }
}

/// Facts about a call from webhooks and the API. Timestamps keep the earliest report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallFacts {
    /// The number the call is from (ours on outbound, the caller's on inbound).
    pub from: Option<String>,
    pub lang: Option<String>,
    /// Hang up when answering-machine detection says `machine` (set per call at dial).
    pub hangup_on_machine: bool,
    pub initiated_at: Option<Millis>,
    pub streaming_started_at: Option<Millis>,
    pub streaming_stopped_at: Option<Millis>,
    pub streaming_error: Option<String>,
    pub hangup_source: Option<String>,
    pub sip_hangup_cause: Option<String>,
    pub quality: Option<Value>,
    /// `(occurred_at, digit)`, in time order.
    pub dtmf: Vec<(Millis, String)>,
    /// Why the dial failed (Telnyx's error), when it did.
    pub dial_error: Option<String>,
    /// Who asked for the hang-up, when we did (`api`, `machine`, `agent`).
    pub hangup_requested: Option<String>,
    /// The carrier's own recording, when `call.recording.saved` reported one.
    pub carrier_recording: Option<CarrierRecording>,
    /// An inbound caller whose number is on the do-not-call list.
    pub caller_opted_out: bool,
    /// When the carrier's media stream reached the appliance (the agent's side).
    pub media_connected_at: Option<Millis>,
    /// The agent put the phone on the do-not-call list during the call.
    pub opted_out_in_call: bool,
    /// The agent's `transfer` tool handed the call to a person.
    pub transferred: bool,
    /// An operator took the call over from the agent.
    pub taken_over: bool,
    /// The agent's `set_outcome` category (one the campaign defines) and its note.
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CarrierRecording {
    pub urls: Vec<String>,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub channels: Option<String>,
}

/// One transcript turn. `seq` is assigned by the store, in append order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub seq: i64,
    /// `caller`, `agent` or `operator`.
    pub role: String,
    pub text: String,
    /// Offsets from the start of the call.
    pub start_ms: i64,
    pub end_ms: i64,
    pub interrupted: bool,
}

/// `GET /api/calls` filters; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallQuery {
    pub status: Option<CallStatus>,
    pub direction: Option<Direction>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub phone: Option<String>,
    pub campaign_id: Option<String>,
    pub customer_id: Option<super::CustomerId>,
    /// Calls held by this appliance life.
    pub owner_epoch: Option<String>,
    pub offset: u64,
    pub limit: u64,
}
