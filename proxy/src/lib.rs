//! `agent5`: the appliance in one process. This crate is the edge (Pingora listeners,
//! TLS, filters, router) and the command line; `agent5-api` and `agent5-bridge` are the
//! services behind it. [`run`] is the builder both `main` and the end-to-end tests call.

pub mod access_log;
pub mod cli;
pub mod config;
pub mod edge;
pub mod filters;
pub mod lifecycle;
pub mod listeners;
pub mod log_sink;
pub mod logging;
pub mod metrics;
pub mod ops;
mod reload;
pub mod router;
mod serve;
pub mod tls;

/// Why the appliance could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Logging(#[from] logging::LogError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} ({role}): {source}")]
    Listen {
        addr: String,
        role: &'static str,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("pingora: {0}")]
    Pingora(String),
    #[error("store: {0}")]
    Store(#[from] agent5_api::store::StoreError),
    #[error("{0}")]
    Client(#[from] agent5_api::integrations::ClientError),
    #[error("ACME: {0}")]
    Acme(ops::acme::AcmeError),
    #[error("upgrade: {0}")]
    Upgrade(std::io::Error),
}

/// How the process gets its listening sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Bind them.
    Fresh,
    /// Take them over from the running process (`--upgrade`); see [`upgrade`].
    Upgrade,
}

/// Binds every listener and serves until a shutdown signal has been handled.
pub fn run(config: config::Config, mode: StartMode) -> Result<(), RunError> {
    logging::init(&config.log_level)?;
    let result = serve::start(config, mode);
    if let Err(e) = &result {
        tracing::error!(error = %e, "agent5 could not start");
    }
    logging::flush();
    result
}

pub use serve::open_store_in;
