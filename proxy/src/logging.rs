//! JSON logs on stdout through `tracing` (journald and Docker both collect stdout).
//!
//! Lines are queued in memory and written by one thread in batches (`log_sink`), so a
//! slow log consumer never stalls a request and no request makes a system call to log;
//! it is not lossy (back-pressure instead of silently dropped lines) and is flushed
//! before the process exits. A line reaches stdout within 20 ms. Pingora's `log`
//! records are bridged in.

use std::sync::{LazyLock, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

use crate::log_sink::{Batched, Sink, SinkWriter};

static SINK: LazyLock<Sink> = LazyLock::new(Sink::default);
static WRITER: Mutex<Option<Batched>> = Mutex::new(None);
static INSTALLED: OnceLock<()> = OnceLock::new();

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
    let sink: &'static Sink = &SINK;
    // The writer first: nothing may queue lines that no thread will write.
    let writer =
        Batched::start(sink, std::io::stdout()).map_err(|e| LogError::Install(e.to_string()))?;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_writer(move || SinkWriter(sink))
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| LogError::Install(e.to_string()))?;
    if let Ok(mut w) = WRITER.lock() {
        *w = Some(writer);
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// Writes one pre-formatted line (the access log's fast path) to the same stream.
pub fn write_line(line: &[u8]) {
    if INSTALLED.get().is_some() {
        SINK.append(line);
    }
}

/// Writes out every buffered line (call before `process::exit`).
pub fn flush() {
    let writer = WRITER.lock().ok().and_then(|mut w| w.take());
    if let Some(w) = writer {
        w.finish();
    }
}
