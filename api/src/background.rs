//! Work that can wait while calls cannot: the embedded store's SQLite calls, CSV
//! parsing, password hashing, file sweeps. It runs on tokio's blocking pool through
//! [`spawn`], and each pool thread lowers its own scheduling priority (raises its
//! `nice` value, `[server] background_nice`) the first time it runs such work. When the
//! cores are full (a burst of call set-ups, an operator's 100k-row import beside live
//! calls) the kernel then gives the edge threads, which carry the calls' audio, most of
//! the CPU; when they are not, the priority changes nothing.
//!
//! A thread stays lowered once lowered (raising a priority back needs a privilege): the
//! blocking pool holds nothing else that a live call waits on frame by frame. Threads
//! of their own (the recordings' writer, the log sink) keep the normal priority: a
//! recording or a log line must not fall behind the calls. A thread or a process
//! inherits the priority of the thread that starts it, so neither is started from
//! background work: the writer starts at start-up, the upgrade's successor from a
//! thread of its own.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::task::JoinHandle;

/// The default `nice` for background work: CFS then weighs an edge thread about nine
/// times a background one (1024 against 110) when both want the CPU.
pub const DEFAULT_NICE: i32 = 10;

/// Highest `nice` Linux accepts.
pub const MAX_NICE: i32 = 19;

static NICE: AtomicI32 = AtomicI32::new(DEFAULT_NICE);

thread_local! {
    /// The `nice` this thread already runs at (`None`: not set by us yet).
    static APPLIED: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Sets the `nice` for background threads from now on (0 leaves them at the normal
/// priority). Values outside 0..=19 are clamped: the configuration rejects them first.
pub fn set_nice(nice: i32) {
    NICE.store(nice.clamp(0, MAX_NICE), Ordering::Relaxed);
}

/// Runs `f` on tokio's blocking pool at the background priority.
pub fn spawn<T, F>(f: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        lower_to(NICE.load(Ordering::Relaxed));
        f()
    })
}

/// Lowers the calling thread to `want`, once per thread and value. A thread already at
/// that `nice` or above (the whole service started with a higher one) is left as it
/// is. A failure (a sandbox that forbids `setpriority`) is logged and the work runs at
/// the priority it has.
fn lower_to(want: i32) {
    if want == 0 || APPLIED.get().is_some_and(|have| have >= want) {
        return;
    }
    APPLIED.set(Some(want));
    if this_thread_nice().is_ok_and(|have| have >= want) {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), want) {
        tracing::warn!(nice = want, error = %e, "background thread priority not lowered");
    }
}

/// The calling thread's `nice` as the kernel reports it.
fn this_thread_nice() -> std::io::Result<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_work_runs_lowered_and_the_caller_does_not() {
        let before = this_thread_nice().unwrap();
        let inside = spawn(this_thread_nice).await.unwrap().unwrap();
        assert_eq!(inside, before.max(DEFAULT_NICE));
        assert_eq!(
            this_thread_nice().unwrap(),
            before,
            "the caller is untouched"
        );
    }

    #[test]
    fn a_thread_is_lowered_once_and_never_raised() {
        std::thread::spawn(|| {
            let start = this_thread_nice().unwrap();
            lower_to(DEFAULT_NICE);
            assert_eq!(this_thread_nice().unwrap(), start.max(DEFAULT_NICE));
            // A lower value later (a reload) does not try to raise the thread back.
            lower_to(5);
            assert_eq!(this_thread_nice().unwrap(), start.max(DEFAULT_NICE));
            lower_to(MAX_NICE);
            assert_eq!(this_thread_nice().unwrap(), start.max(MAX_NICE));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn zero_leaves_the_thread_alone() {
        std::thread::spawn(|| {
            let start = this_thread_nice().unwrap();
            lower_to(0);
            assert_eq!(this_thread_nice().unwrap(), start);
        })
        .join()
        .unwrap();
    }
}
