//! An Agent Studio profile: what the voice agent says and how.

use serde::{Deserialize, Serialize};

use super::Millis;

/// An Agent Studio profile: what the voice agent says and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub id: String,
    /// Unique.
    pub name: String,
    pub instructions: String,
    pub voice: String,
    pub language: String,
    /// Tools the agent may call (`opt_out`, `confirm_language`, `end_call`, `transfer`).
    pub tools: Vec<agent5_bridge::agent::Tool>,
    pub created_at: Millis,
    pub updated_at: Millis,
}
