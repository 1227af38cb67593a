//! What grants access besides a password: browser sessions, per-person API tokens and
//! the roles an admin added. Secrets are never stored: a session is kept under the
//! SHA-256 of its cookie value, a token under the SHA-256 of its secret.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Millis;

/// A signed-in browser. Expiry is judged when it is used (idle and absolute limits are
/// configuration, so a change applies to sessions already open).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    pub user_id: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub client_ip: String,
    pub user_agent: String,
}

/// Never prints the id hash (it is as good as the cookie for a session lookup).
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// A person's API token. The secret is shown once at creation; `prefix` (its first
/// characters) lets people tell their tokens apart.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// Whose token it is; it acts as this person, with at most `role`.
    pub user_id: String,
    pub role: String,
    pub prefix: String,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    pub created_at: Millis,
    #[serde(default)]
    pub expires_at: Option<Millis>,
    #[serde(default)]
    pub last_used_at: Option<Millis>,
    #[serde(default)]
    pub revoked_at: Option<Millis>,
}

impl ApiToken {
    /// Usable at `now`: not revoked, not expired.
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A role an admin added: a name and permissions from the list in
/// `crate::accounts::permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: Millis,
}
