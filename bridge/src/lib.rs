//! Live audio: everything that touches a call's WebSocket streams.
//!
//! The edge (`agent5-proxy`) answers the upgrade and hands a
//! [`tokio_tungstenite::WebSocketStream`] to [`Bridge::run_session`]. The bridge owns
//! the session from then on, including its own ping/idle timers and draining on
//! shutdown. It knows nothing about storage.

mod session;

pub use session::{Bridge, BridgeOptions, SessionKind, SessionMeta};
