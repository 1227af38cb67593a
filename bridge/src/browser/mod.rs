//! Every message a browser exchanges with the bridge, typed both ways: Agent Studio
//! (`/agent-stream`), the live monitor (`/monitor`) and the operator's takeover
//! (`/operator-bridge`). A message of an unknown `type` is counted
//! (`agent5_browser_messages_unknown_total`) and ignored. The protocol, with an example
//! of each message: `docs/websocket-protocol.md`.

pub mod listen;
pub mod studio;
