//! The consent ledger: per phone, the prior express consent an AI-voice campaign
//! needs (FCC 24-17) — where and when it was given, the exact wording and its
//! version, the channel, and a reference to the evidence. Revocable; putting the phone
//! on the do-not-call list revokes it in the same write.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub phone_e164: String,
    /// Where it was captured (`web_form`, `contract`, `import`, ...).
    pub source: String,
    pub captured_at: Millis,
    /// The words the person agreed to, and their version.
    pub wording: String,
    pub wording_version: String,
    /// `web`, `paper`, `phone`, `sms`, `email`, `in_person` or `other`.
    pub channel: String,
    /// Where the proof is (a form submission id, a document reference, ...).
    pub evidence_ref: String,
    pub revoked_at: Option<Millis>,
    pub revoked_reason: Option<String>,
    /// Who recorded it (a person's email, `import`, `api`).
    pub recorded_by: String,
    pub updated_at: Millis,
}

impl Consent {
    /// Whether a campaign that requires consent may dial this phone.
    pub fn is_valid(&self) -> bool {
        self.revoked_at.is_none()
    }
}
