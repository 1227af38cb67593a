//! A live session: the sans-IO core (`core/`), the agent socket (`agent_link.rs`) and
//! the task that runs a phone call against the carrier socket, the agent, the recorder
//! and the hooks (`media.rs`). Agent Studio runs the same core (`crate::studio`).

pub mod agent_link;
pub mod core;
pub mod media;

/// Sleeps until `deadline`, or forever when there is none (a `select!` branch for an
/// optional timer).
pub(crate) async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The next tick of an optional interval, or never.
pub(crate) async fn tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
