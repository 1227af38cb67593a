//! The domain model: customers with their invoice contact and deliveries, the prospect
//! list's rows and queries, DNC entries, field definitions, calls with their timeline
//! and transcript, agent profiles, campaigns, webhook events and audit entries. The
//! store persists these shapes; the API and the import work on them.
//!
//! Timestamps are UTC milliseconds since the epoch in both backends, so results compare
//! equal across them. Everything here is backend-neutral: merging an upload into a
//! stored customer, attaching deliveries and deriving contact rows happen once, here.

mod access;
mod agent;
mod audit;
mod call;
mod campaign;
mod consent;
mod customer;
mod deliveries;
mod dnc;
mod field_def;
mod ids;
mod node;
mod prospect_list;
mod user;
mod webhook;

pub use access::{ApiToken, Role, Session};
pub use agent::AgentProfile;
pub use audit::{AuditEntry, AuditQuery};
pub use call::{
    Call, CallFacts, CallOwner, CallQuery, CallStatus, CarrierRecording, Clock, Direction,
    RecordingMeta, StatusChange, Turn,
};
pub use campaign::{
    AttemptState, AttemptTally, CallAttempt, Campaign, DialEntry, EntryCounts, EntryState,
};
pub use consent::Consent;
pub use customer::{normalize_tags, upsert_key, Contact, Customer, Delivery, NewCustomer};
pub use deliveries::{
    delivery_number, AttachError, AttachPlan, Attached, NewDelivery, Parent, ParentKey,
    MAX_DELIVERIES,
};
pub use dnc::{opt_out_reason, DncEntry, DncSource};
pub use field_def::{FieldDef, FieldKind, Visibility};
pub use ids::{CallId, CustomerId};
pub use node::{NodeRecord, NodeStatus, RecordingPart};
pub use prospect_list::{ContactKind, ContactRow, Page, ProspectQuery, Scope, Sort, Upserted};
pub use user::User;
pub use webhook::{NewWebhookEvent, WebhookEvent};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new id: 8 hex digits of seconds then 16 random hex digits (sortable by creation,
/// the same shape as a MongoDB ObjectId's hex form).
pub fn new_id() -> String {
    let secs = u32::try_from(now_millis() / 1000).unwrap_or(u32::MAX);
    let r: u64 = rand::random();
    format!("{secs:08x}{r:016x}")
}

/// Upper bound of a prefix range: every string starting with `prefix` sorts below it.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A contact with a phone, a name and an email, for the model's tests.
#[cfg(test)]
pub(crate) fn test_contact(phone: Option<&str>, name: &str, email: &str) -> Contact {
    Contact {
        phone: phone.map(str::to_owned),
        name: name.into(),
        email: email.into(),
        ..Contact::default()
    }
}
