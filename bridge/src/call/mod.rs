//! A live session: the sans-IO core (`core/`), the agent socket (`agent_link.rs`) and
//! the task that runs a phone call against the carrier socket, the agent, the recorder
//! and the hooks (`media.rs`). Agent Studio runs the same core (`crate::studio`).

pub mod agent_link;
pub mod core;
pub mod media;
