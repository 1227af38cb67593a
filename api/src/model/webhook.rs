//! A Telnyx webhook delivery, recorded before it is processed.

use super::Millis;

/// A webhook delivery to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEvent {
    pub event_id: String,
    pub event_type: String,
    /// The body as received.
    pub payload: String,
}

/// A recorded webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub received_at: Millis,
}
