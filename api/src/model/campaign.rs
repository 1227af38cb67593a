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
}
