//! Process lifecycle: readiness, in-flight work, draining and the exit.
//!
//! Pingora's own graceful path sleeps the whole grace period even when nothing is in
//! flight. Ours: on SIGTERM/SIGINT the edge stops accepting (Pingora's shutdown
//! broadcast), WebSocket sessions are told to drain, and the process exits as soon as
//! every request and session has finished, or when the grace period runs out, or at
//! once on a second signal. SIGQUIT and SIGUSR2 hand the listeners to a successor
//! first (see [`crate::ops::upgrade`]); WebSocket sessions then run on to their end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ExecutionPhase, ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{broadcast, Notify};

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
    /// Where a successor waits for the listening sockets.
    pub upgrade_sock: PathBuf,
    /// Removed at exit if it still names this process.
    pub pid_file: PathBuf,
    /// Pingora's execution phases: the upgrade path exits only after the hand-over.
    pub phases: broadcast::Receiver<ExecutionPhase>,
    /// The signal streams, installed before the process says it is ready (a signal
    /// sent right after "ready" must not be lost), taken by the first `recv`.
    pub signals: std::sync::Mutex<Option<Signals>>,
}

/// SIGTERM, SIGINT, SIGQUIT and SIGUSR2 as streams.
pub struct Signals {
    term: Option<Signal>,
    int: Option<Signal>,
    quit: Option<Signal>,
    usr2: Option<Signal>,
}

impl Signals {
    /// Installs the handlers; call inside a running tokio runtime that lives as long
    /// as the process (its driver delivers them).
    pub fn install() -> Self {
        Self {
            term: listen(SignalKind::terminate()),
            int: listen(SignalKind::interrupt()),
            quit: listen(SignalKind::quit()),
            usr2: listen(SignalKind::user_defined2()),
        }
    }
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

/// What a signal asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM/SIGINT: stop accepting, finish the work, exit.
    Terminate,
    /// SIGQUIT (a successor is waiting) or SIGUSR2 (one was started and is waiting):
    /// hand the listeners over, then finish the work and exit.
    HandOver,
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        let installed = self
            .signals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Signals {
            mut term,
            mut int,
            mut quit,
            mut usr2,
        } = installed.unwrap_or_else(Signals::install);
        let (name, stop) = loop {
            tokio::select! {
                () = next(&mut term) => break ("SIGTERM", Stop::Terminate),
                () = next(&mut int) => break ("SIGINT", Stop::Terminate),
                () = next(&mut quit) => {
                    if self.successor_waiting() {
                        break ("SIGQUIT", Stop::HandOver);
                    }
                }
                () = next(&mut usr2) => {
                    if self.start_successor().await {
                        break ("SIGUSR2", Stop::HandOver);
                    }
                }
            }
        };
        tracing::info!(
            signal = name,
            active = self.lifecycle.active(),
            grace_secs = self.grace.as_secs(),
            hand_over = stop == Stop::HandOver,
            "draining: no new connections, finishing requests and sessions"
        );
        self.lifecycle.begin_drain();
        let mut phases = self.phases.resubscribe();
        match stop {
            Stop::Terminate => {
                crate::ops::systemd::notify("STOPPING=1");
                self.bridge.drain();
            }
            // The unit goes on (the successor is its main process now): no STOPPING,
            // and calls, listen-in and takeovers run on here to their end.
            Stop::HandOver => self.bridge.hand_over(),
        }
        let lifecycle = Arc::clone(&self.lifecycle);
        let grace = self.grace;
        let pid_file = self.pid_file.clone();
        tokio::spawn(async move {
            if stop == Stop::HandOver {
                // Pingora sends the sockets, keeps accepting for a few seconds, then
                // stops; a connection accepted just before has yet to be counted.
                handed_over(&mut phases).await;
                tokio::time::sleep(SETTLE).await;
            }
            let outcome = tokio::select! {
                () = lifecycle.idle() => "drained",
                () = tokio::time::sleep(grace) => "grace period over",
                () = next(&mut term) => "second signal",
                () = next(&mut int) => "second signal",
            };
            // After a hand-over the successor has rewritten the pid file once ready. If
            // it still names us, nobody serves the sockets: fail, so that systemd's
            // Restart=on-failure brings the service back.
            let orphaned = stop == Stop::HandOver
                && crate::ops::upgrade::read_pid(&pid_file).ok() == Some(std::process::id());
            crate::ops::upgrade::remove_pid_file(&pid_file);
            if orphaned {
                tracing::error!(
                    outcome,
                    "the new process never became ready; exiting with failure"
                );
            } else {
                tracing::info!(outcome, active = lifecycle.active(), "agent5 stopped");
            }
            crate::logging::flush();
            std::process::exit(i32::from(orphaned));
        });
        match stop {
            Stop::HandOver => ShutdownSignal::GracefulUpgrade,
            Stop::Terminate => ShutdownSignal::GracefulTerminate,
        }
    }
}

/// After the hand-over, how long accepted connections get to send their request.
const SETTLE: Duration = Duration::from_millis(500);

/// Resolves once Pingora has stopped accepting (after sending the sockets).
async fn handed_over(phases: &mut broadcast::Receiver<ExecutionPhase>) {
    loop {
        match phases.recv().await {
            Ok(ExecutionPhase::ShutdownStarted | ExecutionPhase::ShutdownGracePeriod)
            | Err(broadcast::error::RecvError::Closed) => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
        }
    }
}

impl SignalWatch {
    /// SIGQUIT hands over only to a process already waiting on the upgrade socket:
    /// without one, Pingora would give up after a few seconds and stop serving.
    fn successor_waiting(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        let waiting =
            std::fs::metadata(&self.upgrade_sock).is_ok_and(|m| m.file_type().is_socket());
        if !waiting {
            tracing::warn!(
                socket = %self.upgrade_sock.display(),
                "SIGQUIT ignored: no new process waits for the listeners (start `agent5 serve --upgrade` first, or use `agent5 upgrade`)"
            );
        }
        waiting
    }

    /// SIGUSR2: starts the successor and waits until it waits for the sockets; `false`
    /// (keep serving) when it cannot start.
    async fn start_successor(&self) -> bool {
        if self.lifecycle.is_draining() {
            return false;
        }
        tracing::info!("upgrade requested: starting the new process");
        let sock = self.upgrade_sock.clone();
        // A thread of its own, started from this one: a process inherits the priority of
        // the thread that forks it, and the blocking pool's threads run lowered
        // (`agent5_api::background`); the successor must start at the service's own.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = std::thread::Builder::new()
            .name("agent5-upgrade".into())
            .spawn(move || tx.send(crate::ops::upgrade::spawn_successor(&sock)));
        if let Err(e) = started {
            tracing::error!(error = %e, "upgrade aborted; this process keeps serving");
            return false;
        }
        match rx.await {
            Ok(Ok(child)) => {
                tracing::info!(
                    successor = child.id(),
                    "new process ready for the hand-over"
                );
                // Reaped by whoever outlives whom; nothing to wait for here.
                drop(child);
                true
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "upgrade aborted; this process keeps serving");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "upgrade aborted; this process keeps serving");
                false
            }
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
