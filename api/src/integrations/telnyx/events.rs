//! The webhook envelope Telnyx POSTs (`{"data":{"event_type","id","occurred_at",
//! "payload":{...}},"meta":{...}}`), read into typed events. Fields Telnyx may omit are
//! optional; an event type we do not handle is kept as [`EventKind::Other`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Debug, Clone, Deserialize)]
struct Data {
    id: String,
    event_type: String,
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    payload: Payload,
}

/// The payload fields the appliance uses (all optional on the wire).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub call_control_id: Option<String>,
    pub call_leg_id: Option<String>,
    pub call_session_id: Option<String>,
    pub connection_id: Option<String>,
    pub client_state: Option<String>,
    pub direction: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub state: Option<String>,
    pub hangup_cause: Option<String>,
    pub hangup_source: Option<String>,
    pub sip_hangup_cause: Option<String>,
    /// `call.machine.detection.ended`: human, machine, not_sure.
    pub result: Option<String>,
    /// `call.dtmf.received`.
    pub digit: Option<String>,
    pub recording_urls: Option<Value>,
    pub public_recording_urls: Option<Value>,
    pub recording_started_at: Option<String>,
    pub recording_ended_at: Option<String>,
    pub channels: Option<String>,
    pub call_quality_stats: Option<Value>,
    pub stream_url: Option<String>,
    pub failure_reason: Option<String>,
}

impl Payload {
    /// Our call id, from the base64 `client_state` we set on dial or answer.
    pub fn our_call_id(&self) -> Option<String> {
        let raw = STANDARD.decode(self.client_state.as_deref()?).ok()?;
        let text = String::from_utf8(raw).ok()?;
        text.strip_prefix("agent5:").map(str::to_owned)
    }
}

/// The `client_state` that names one of our calls.
pub fn client_state(call_id: &str) -> String {
    STANDARD.encode(format!("agent5:{call_id}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Initiated,
    Answered,
    Hangup,
    MachineDetectionEnded,
    Dtmf,
    Bridged,
    RecordingSaved,
    StreamingStarted,
    StreamingStopped,
    StreamingFailed,
    Other,
}

impl EventKind {
    pub fn parse(event_type: &str) -> Self {
        match event_type {
            "call.initiated" => Self::Initiated,
            "call.answered" => Self::Answered,
            "call.hangup" => Self::Hangup,
            "call.machine.detection.ended" | "call.machine.premium.detection.ended" => {
                Self::MachineDetectionEnded
            }
            "call.dtmf.received" => Self::Dtmf,
            "call.bridged" => Self::Bridged,
            "call.recording.saved" => Self::RecordingSaved,
            "streaming.started" => Self::StreamingStarted,
            "streaming.stopped" => Self::StreamingStopped,
            "streaming.failed" => Self::StreamingFailed,
            _ => Self::Other,
        }
    }

    /// Metric label (bounded: unknown types are `other`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Initiated => "call.initiated",
            Self::Answered => "call.answered",
            Self::Hangup => "call.hangup",
            Self::MachineDetectionEnded => "call.machine.detection.ended",
            Self::Dtmf => "call.dtmf.received",
            Self::Bridged => "call.bridged",
            Self::RecordingSaved => "call.recording.saved",
            Self::StreamingStarted => "streaming.started",
            Self::StreamingStopped => "streaming.stopped",
            Self::StreamingFailed => "streaming.failed",
            Self::Other => "other",
        }
    }

    pub const ALL: [EventKind; 11] = [
        Self::Initiated,
        Self::Answered,
        Self::Hangup,
        Self::MachineDetectionEnded,
        Self::Dtmf,
        Self::Bridged,
        Self::RecordingSaved,
        Self::StreamingStarted,
        Self::StreamingStopped,
        Self::StreamingFailed,
        Self::Other,
    ];
}

/// One webhook event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub kind: EventKind,
    /// Milliseconds since the epoch (from `occurred_at`; 0 when absent or unreadable).
    pub occurred_at: i64,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Telnyx webhook envelope: {0}")]
pub struct EnvelopeError(pub String);

impl Event {
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let env: Envelope =
            serde_json::from_slice(body).map_err(|e| EnvelopeError(e.to_string()))?;
        if env.data.id.is_empty() || env.data.id.len() > 200 {
            return Err(EnvelopeError(
                "data.id must hold 1 to 200 characters".into(),
            ));
        }
        let occurred_at = env
            .data
            .occurred_at
            .as_deref()
            .and_then(crate::time::parse_rfc3339_millis)
            .unwrap_or(0);
        Ok(Self {
            kind: EventKind::parse(&env.data.event_type),
            id: env.data.id,
            event_type: env.data.event_type,
            occurred_at,
            payload: env.data.payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_envelope() {
        let body = br#"{"data":{"record_type":"event","event_type":"call.answered","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at":"2018-02-02T22:25:27.521992Z",
            "payload":{"call_control_id":"v2:abc","call_leg_id":"l","call_session_id":"s","connection_id":"c",
                       "client_state":"YWdlbnQ1OmNhbGwtMQ==","from":"+3225111234","to":"+32475123456","direction":"outgoing","state":"answered"}},
            "meta":{"attempt":1,"delivered_to":"https://x"}}"#;
        let e = Event::parse(body).expect("event");
        assert_eq!(e.kind, EventKind::Answered);
        assert_eq!(e.occurred_at, 1_517_610_327_521);
        assert_eq!(e.payload.call_control_id.as_deref(), Some("v2:abc"));
        assert_eq!(e.payload.our_call_id().as_deref(), Some("call-1"));
        assert_eq!(client_state("call-1"), "YWdlbnQ1OmNhbGwtMQ==");
        assert_eq!(
            EventKind::parse("streaming.failed"),
            EventKind::StreamingFailed
        );
        assert_eq!(
            EventKind::parse("call.conversation.ended"),
            EventKind::Other
        );
        assert!(Event::parse(b"{\"data\":{}}").is_err());
        assert!(Event::parse(b"[]").is_err());
        let foreign = Payload {
            client_state: Some(STANDARD.encode("someone else")),
            ..Payload::default()
        };
        assert_eq!(foreign.our_call_id(), None);
    }
}
