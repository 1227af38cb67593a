//! End-to-end harness: start the real `agent5` process from a temp config, learn its
//! bound addresses from its own log (readiness through a channel, never a sleep), and
//! drive it with real HTTP, TLS and WebSocket clients.

pub mod appliance;
pub mod certs;
pub mod client;
pub mod fake_media;
pub mod fake_realtime;
pub mod fake_telnyx;
pub mod fuzz_harness;
pub mod people;
pub mod sse;

pub use appliance::{Appliance, Spec};
