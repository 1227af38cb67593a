//! Process lifecycle: readiness, in-flight work, draining and the exit.
//!
//! Pingora's own graceful path sleeps the whole grace period even when nothing is in
//! flight. Ours: on SIGTERM/SIGINT the edge stops accepting (Pingora's shutdown
//! broadcast), WebSocket sessions are told to drain, and the process exits as soon as
//! every request and session has finished, or when the grace period runs out, or at
//! once on a second signal.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Lifecycle {
    active: AtomicUsize,
    idle: Notify,
    draining: AtomicBool,
    listening: AtomicBool,
}

impl Lifecycle {
    /// Counts one request or session until the guard drops.
    pub fn track(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(Arc::clone(self))
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Resolves when nothing is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// An in-flight request or session.
#[derive(Debug)]
pub struct Active(Arc<Lifecycle>);

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Pingora's shutdown signal source, replaced so draining is ours.
pub struct SignalWatch {
    pub lifecycle: Arc<Lifecycle>,
    pub bridge: agent5_bridge::Bridge,
    pub grace: Duration,
}

fn listen(kind: SignalKind) -> Option<Signal> {
    match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handler");
            None
        }
    }
}

async fn next(sig: &mut Option<Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        let mut term = listen(SignalKind::terminate());
        let mut int = listen(SignalKind::interrupt());
        let mut quit = listen(SignalKind::quit());
        let (name, upgrade) = tokio::select! {
            () = next(&mut term) => ("SIGTERM", false),
            () = next(&mut int) => ("SIGINT", false),
            () = next(&mut quit) => ("SIGQUIT", true),
        };
        tracing::info!(
            signal = name,
            active = self.lifecycle.active(),
            grace_secs = self.grace.as_secs(),
            "draining: no new connections, finishing requests and sessions"
        );
        crate::systemd::notify("STOPPING=1");
        self.lifecycle.begin_drain();
        self.bridge.drain();
        let lifecycle = Arc::clone(&self.lifecycle);
        let grace = self.grace;
        tokio::spawn(async move {
            let outcome = tokio::select! {
                () = lifecycle.idle() => "drained",
                () = tokio::time::sleep(grace) => "grace period over",
                () = next(&mut term) => "second signal",
                () = next(&mut int) => "second signal",
            };
            tracing::info!(outcome, active = lifecycle.active(), "agent5 stopped");
            crate::logging::flush();
            std::process::exit(0);
        });
        if upgrade {
            ShutdownSignal::GracefulUpgrade
        } else {
            ShutdownSignal::GracefulTerminate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_resolves_when_the_last_guard_drops() {
        let lc = Arc::new(Lifecycle::default());
        let a = lc.track();
        let b = lc.track();
        let waiter = tokio::spawn({
            let lc = Arc::clone(&lc);
            async move { lc.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.expect("idle");
        assert_eq!(lc.active(), 0);
    }
}
