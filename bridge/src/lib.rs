//! Live audio: everything that touches a call's WebSocket streams.
//!
//! The edge (`agent5-proxy`) answers the upgrade and hands a [`ws::WsStream`] (the
//! bridge's own RFC 6455 framing) to [`Bridge::run_session`]. The bridge owns
//! the session from then on, including its own ping/idle timers and draining on
//! shutdown. A media session is one call: Telnyx frames (`carrier/`) in and out, the
//! OpenAI Realtime agent (`agent/`), the sans-IO call core and its task (`call/`), and
//! the recording (`recording/`). It knows nothing about storage: the api crate
//! implements [`CallHooks`]. See `LIFECYCLE.md` for the states of a call session.

pub mod agent;
pub mod browser;
pub mod call;
pub mod carrier;
pub mod controls;
pub mod g711;
pub mod hooks;
mod json_text;
pub mod live;
pub mod metrics;
pub mod monitor;
pub mod operator;
pub mod recording;
pub mod resample;
mod session;
pub mod studio;
pub mod ws;

pub use call::media::MediaOptions;
pub use hooks::{Actor, CallHooks, MediaAuthError, MediaCall, Studio};
pub use session::{Bridge, BridgeOptions, SessionKind, SessionMeta};

/// The read buffer a WebSocket starts with ([`ws::WsStream`]'s, grown only for a longer
/// frame; also `agent5-floor`'s tungstenite read size). A media frame is a few hundred
/// bytes and the agent's deltas a few KiB.
pub const SOCKET_READ_CHUNK: usize = 2 * 1024;
