//! Telnyx: webhook signatures and envelopes, the Call Control client, and the webhook
//! pipeline that records every delivery durably before answering and processes it
//! behind the answer.

pub mod client;
pub mod events;
pub mod signature;
pub mod webhook;
