//! Live audio: everything that touches a call's WebSocket streams.
//!
//! The edge (`agent5-proxy`) answers the upgrade and hands a
//! [`tokio_tungstenite::WebSocketStream`] to [`Bridge::run_session`]. The bridge owns
//! the session from then on, including its own ping/idle timers and draining on
//! shutdown. A media session is one call: Telnyx frames (`carrier/`) in and out, the
//! OpenAI Realtime agent (`agent/`), the sans-IO call core and its task (`call/`), and
//! the recording (`recording/`). It knows nothing about storage: the api crate
//! implements [`CallHooks`]. See `LIFECYCLE.md` for the states of a call session.

pub mod agent;
pub mod browser;
pub mod call;
pub mod carrier;
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

pub use call::media::MediaOptions;
pub use hooks::{Actor, CallHooks, MediaAuthError, MediaCall, Studio};
pub use session::{Bridge, BridgeOptions, SessionKind, SessionMeta};

/// How much a WebSocket read asks for at most (tungstenite's `read_buffer_size`), on the
/// phone's and the agent's sockets. tungstenite zeroes that much of its buffer before
/// every read, including the reads that find nothing: a call polls its agent socket at
/// every wake-up, so 8 KiB here was 4% of the appliance's CPU at 200 calls (memset).
/// A media frame is a few hundred bytes and the agent's deltas a few KiB; a longer
/// message takes more reads (from Pingora's buffer on the phone's side, from rustls's
/// on the agent's).
pub const SOCKET_READ_CHUNK: usize = 2 * 1024;
