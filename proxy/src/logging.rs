//! JSON logs on stdout through `tracing` (journald and Docker both collect stdout).
//!
//! Writes go through a non-blocking writer so a slow log consumer never stalls a
//! request; it is not lossy (back-pressure instead of silently dropped lines) and is
//! flushed before the process exits. Pingora's `log` records are bridged in.

use std::sync::Mutex;

use std::sync::OnceLock;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);
static WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log filter {directives:?}: {reason}")]
    Filter { directives: String, reason: String },
    #[error("cannot install the logger: {0}")]
    Install(String),
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `level`.
pub fn init(level: &str) -> Result<(), LogError> {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| format!("{level},pingora_core=warn,pingora=warn,h2=warn,rustls=warn"));
    let filter = EnvFilter::try_new(&directives).map_err(|e| LogError::Filter {
        reason: e.to_string(),
        directives: directives.clone(),
    })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .thread_name("agent5-log")
        .finish(std::io::stdout());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_writer(writer.clone())
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| LogError::Install(e.to_string()))?;
    if let Ok(mut g) = GUARD.lock() {
        *g = Some(guard);
    }
    let _ = WRITER.set(writer);
    Ok(())
}

/// Writes one pre-formatted line (the access log's fast path) to the same stream.
pub fn write_line(line: &[u8]) {
    if let Some(w) = WRITER.get() {
        let mut w = w.clone();
        let _ = std::io::Write::write_all(&mut w, line);
    }
}

/// Writes out every buffered line (call before `process::exit`).
pub fn flush() {
    if let Ok(mut g) = GUARD.lock() {
        drop(g.take());
    }
}
