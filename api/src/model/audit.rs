//! One line of the audit log: who did what to what, from where.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Millis,
    /// The person's email, a token's name (`token:<name>`), `env:AUTH_TOKEN`, or
    /// `system`.
    pub actor: String,
    /// The user id behind the actor, when a person acted.
    #[serde(default)]
    pub actor_id: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: String,
    #[serde(default)]
    pub client_ip: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Which entries `GET /api/audit` lists, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Exact actor (email or token label), or a user id.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// `at >= since`.
    pub since: Option<Millis>,
    /// `at < until`.
    pub until: Option<Millis>,
    pub offset: u64,
    pub limit: u64,
}
