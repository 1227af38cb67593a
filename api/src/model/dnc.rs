//! A do-not-call entry and where it came from.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DncSource {
    Upload,
    Ui,
    System,
    Call,
}

impl DncSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Ui => "ui",
            Self::System => "system",
            Self::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(Self::Upload),
            "ui" => Some(Self::Ui),
            "system" => Some(Self::System),
            "call" => Some(Self::Call),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub phone_e164: String,
    pub reason: String,
    pub source: DncSource,
    pub added_by: String,
    pub added_at: Millis,
}

/// Why a consent was revoked when its phone went on the do-not-call list.
pub fn opt_out_reason(e: &DncEntry) -> String {
    if e.reason.is_empty() {
        format!("opted out ({})", e.source.as_str())
    } else {
        format!("opted out ({}): {}", e.source.as_str(), e.reason)
    }
}
