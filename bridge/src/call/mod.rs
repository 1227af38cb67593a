//! A live call: the sans-IO core (`core.rs`) and the task that runs it against the
//! carrier socket, the agent socket, the recorder and the hooks (`media.rs`).

pub mod core;
pub mod media;
