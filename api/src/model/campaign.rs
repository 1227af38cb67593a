//! Campaigns and their call attempts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    /// Unique.
    pub name: String,
    pub description: String,
    /// draft, scheduled, running, paused, ended
    pub status: String,
    pub audience: Value,
    pub schedule: Value,
    pub dialer: Value,
    pub script_profile: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub version: i64,
    /// Why the dialler paused it by itself (`abandon_rate`, `carrier_failures`), until
    /// someone resumes it.
    #[serde(default)]
    pub paused_reason: Option<String>,
}

/// Where one dial of a campaign stands. `reserved` is written before the carrier is
/// asked, so a crash in between leaves a trace; `reserved` and `dialed` are open: no
/// other attempt on that campaign and phone may be reserved while one is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    #[default]
    Reserved,
    /// The carrier accepted the dial (the call id is known).
    Dialed,
    Ended,
    /// The carrier refused the dial.
    Failed,
    /// Reserved or dialed, then nothing heard for too long: counted as an attempt and
    /// never re-dialled blindly.
    Unknown,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Dialed => "dialed",
            Self::Ended => "ended",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Self::Reserved | Self::Dialed)
    }
}

/// One dial of one phone for a campaign. `attempt_no` is assigned by the store:
/// 1 + the previous attempts of that campaign and phone, never repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAttempt {
    pub id: String,
    pub campaign_id: String,
    pub customer_id: super::CustomerId,
    /// `invoice` or `delivery`.
    pub target: String,
    pub delivery_code: Option<String>,
    pub phone_e164: String,
    pub attempt_no: i64,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub disposition: Option<String>,
    pub call_id: Option<String>,
    pub error: Option<String>,
    #[serde(default)]
    pub state: AttemptState,
    /// The agent's `set_outcome` category for the call, when it recorded one.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// Where one phone of a campaign stands in the dialler: `waiting` for `next_at`,
/// `dialing` while its latest attempt is open, `done` (with why) when it will not be
/// dialled again. Keyed by campaign and phone, so a phone two contacts share is one
/// entry, and every restart resumes from what is stored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialEntry {
    pub campaign_id: String,
    pub phone_e164: String,
    pub customer_id: super::CustomerId,
    /// `invoice` or `delivery`.
    pub target: String,
    pub delivery_code: Option<String>,
    pub state: EntryState,
    /// When a `waiting` entry may be dialled next.
    pub next_at: Option<Millis>,
    /// Dials made (attempts that reached the carrier or were lost on the way).
    pub attempts: i64,
    pub last_disposition: Option<String>,
    /// Why a `done` entry is done (`completed`, `max_attempts`, `opted_out`, ...), or
    /// the last gate refusal of a `waiting` one.
    pub reason: Option<String>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    #[default]
    Waiting,
    Dialing,
    Done,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Dialing => "dialing",
            Self::Done => "done",
        }
    }
}

/// How many of a campaign's entries are in each state, and the earliest next dial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EntryCounts {
    pub waiting: u64,
    pub dialing: u64,
    pub done: u64,
    pub next_at: Option<Millis>,
}

/// A campaign's attempts since some instant: how many were started, how many are
/// open now, and how many ended with each disposition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttemptTally {
    pub started: u64,
    pub open: u64,
    pub dispositions: std::collections::BTreeMap<String, u64>,
}
