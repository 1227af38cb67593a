//! An operator account: who signs in, with which role. The password is kept only as an
//! Argon2id hash (`crate::accounts::password`), never logged and never returned.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// As the person typed it (trimmed); unique without regard to case.
    pub email: String,
    pub display_name: String,
    /// The role's name (`admin`, `supervisor`, `operator`, `viewer`, or one an admin
    /// added).
    pub role: String,
    pub active: bool,
    pub created_at: Millis,
    #[serde(default)]
    pub last_login_at: Option<Millis>,
    /// The Argon2id PHC string.
    pub password_hash: String,
    pub version: i64,
}

impl User {
    /// The form emails are compared in: trimmed, lower case.
    pub fn email_key(email: &str) -> String {
        email.trim().to_lowercase()
    }
}

/// Never prints the password hash.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
