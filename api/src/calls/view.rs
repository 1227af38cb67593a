//! A call as the API shows it: its record (never the stream token hash), its timeline
//! with the clock each time came from, and its transcript and revision when read alone.

use serde::Serialize;
use serde_json::Value;

use crate::model::{Call, CallStatus, Clock, Direction, StatusChange, Turn};
use crate::time::rfc3339_millis;

#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    pub status: CallStatus,
    pub at: String,
    /// `appliance` or `carrier`: whose clock `at` is from (the timeline is in causal
    /// order; the two clocks may disagree).
    pub clock: Clock,
}

impl From<&StatusChange> for TimelineEntry {
    fn from(s: &StatusChange) -> Self {
        Self {
            status: s.status,
            at: rfc3339_millis(s.at),
            clock: s.clock,
        }
    }
}

/// A call as the API shows it (never the stream token hash).
#[derive(Debug, Serialize)]
pub struct CallView {
    pub id: String,
    pub status: CallStatus,
    pub direction: Direction,
    pub phone: String,
    pub from: Option<String>,
    pub call_control_id: Option<String>,
    pub customer_id: Option<String>,
    pub delivery_code: Option<String>,
    pub campaign_id: Option<String>,
    pub agent_profile: Option<String>,
    pub lang: Option<String>,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// From answer to hang-up.
    pub duration_secs: Option<f64>,
    pub hangup_cause: Option<String>,
    pub hangup_source: Option<String>,
    pub hangup_requested: Option<String>,
    pub amd_result: Option<String>,
    pub error: Option<String>,
    pub streaming_error: Option<String>,
    pub dtmf: String,
    pub caller_opted_out: bool,
    pub timeline: Vec<TimelineEntry>,
    /// `/api/calls/{id}/recording` once the appliance has a recording.
    pub recording: Option<String>,
    pub carrier_recording_urls: Vec<String>,
    pub quality: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<Turn>>,
    /// Changes whenever the call or its transcript does (`?after=` waits for that).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
}

impl From<Call> for CallView {
    fn from(c: Call) -> Self {
        let f = c.facts;
        Self {
            duration_secs: match (c.answered_at, c.ended_at) {
                (Some(a), Some(e)) if e >= a => Some((e - a) as f64 / 1000.0),
                _ => None,
            },
            recording: c
                .recording
                .as_ref()
                .map(|_| format!("/api/calls/{}/recording", c.id)),
            timeline: c.timeline.iter().map(TimelineEntry::from).collect(),
            id: c.id.into(),
            status: c.status,
            direction: c.direction,
            phone: c.phone,
            from: f.from,
            call_control_id: c.call_control_id,
            customer_id: c.customer_id.map(Into::into),
            delivery_code: c.delivery_code,
            campaign_id: c.campaign_id,
            agent_profile: c.agent_profile,
            lang: f.lang,
            started_at: rfc3339_millis(c.started_at),
            answered_at: c.answered_at.map(rfc3339_millis),
            ended_at: c.ended_at.map(rfc3339_millis),
            hangup_cause: c.hangup_cause,
            hangup_source: f.hangup_source,
            hangup_requested: f.hangup_requested,
            amd_result: c.amd_result,
            error: f.dial_error,
            streaming_error: f.streaming_error,
            dtmf: f.dtmf.into_iter().map(|(_, d)| d).collect(),
            caller_opted_out: f.caller_opted_out,
            carrier_recording_urls: f.carrier_recording.map(|r| r.urls).unwrap_or_default(),
            quality: f.quality,
            transcript: None,
            revision: String::new(),
        }
    }
}
