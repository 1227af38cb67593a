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
}
