//! The validated sections of the configuration: what the appliance runs with (the
//! TOML shapes are in [`super::file`]; [`super::validate`] turns one into the other).

use std::path::PathBuf;
use std::time::Duration;

use super::{ListenAddr, Secret};

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub listen: Vec<ListenAddr>,
    pub redirect_listen: Vec<ListenAddr>,
    pub certificates: Vec<CertPaths>,
    /// How often the certificate files are checked for changes (`None`: never).
    pub watch_interval: Option<Duration>,
    /// Built-in ACME; its certificate pair is the last entry of `certificates`.
    pub acme: Option<AcmeConfig>,
}

/// The validated `[tls.acme]` section.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    pub domains: Vec<String>,
    pub contact: Vec<String>,
    pub directory_url: String,
    pub ca_bundle: Option<PathBuf>,
    pub renew_before: Duration,
    pub check_interval: Duration,
    pub retry: Duration,
    /// `<data_dir>/acme`: account, certificate, key, HTTP-01 tokens (0700).
    pub dir: PathBuf,
}

impl AcmeConfig {
    /// Where the issued certificate and its key live.
    pub fn cert_paths(&self) -> CertPaths {
        CertPaths {
            cert: self.dir.join("cert.pem"),
            key: self.dir.join("key.pem"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A token bucket: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub api: Budget,
    pub webhook: Budget,
    pub websocket: Budget,
    pub max_tracked_clients: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub json: u64,
    pub upload: u64,
    pub webhook: u64,
    pub websocket_message: u64,
    pub upload_max_rows: u64,
    /// Largest HTTP/1.1 request head (and HTTP/2 header list).
    pub head: usize,
}

/// Connection caps, judged at accept.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub total: usize,
    pub per_client: usize,
    pub exempt: Vec<ipnet::IpNet>,
}

impl ConnectionLimits {
    /// `max_connections = 0`: half of what the open-files limit leaves after a
    /// reserve, since every call also holds an outbound socket and a recording.
    pub fn auto_total(open_files: Option<u64>) -> usize {
        let files = open_files.unwrap_or(1024);
        usize::try_from((files.saturating_sub(256) / 2).max(64)).unwrap_or(usize::MAX)
    }
}

/// The process's open-files limit (`LimitNOFILE`), from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Outside services; each is optional, and what is missing is reported, not fatal.
#[derive(Debug, Clone, Default)]
pub struct Integrations {
    pub mongo_uri: Option<Secret>,
    pub openai_api_key: Option<Secret>,
    pub telnyx_api_key: Option<Secret>,
    pub telnyx_connection_id: Option<String>,
    pub telnyx_phone_number: Option<String>,
    pub telnyx_public_key_pem: Option<String>,
    pub telnyx_stream_url: Option<String>,
    pub telnyx_verify_signatures: bool,
    pub livekit_server_url: Option<String>,
    pub livekit_api_key: Option<String>,
    pub livekit_api_secret: Option<Secret>,
}

/// How calls are placed and webhooks checked (the `[telnyx]` tuning keys).
#[derive(Debug, Clone)]
pub struct TelnyxOptions {
    pub api_base: String,
    /// Parsed from `public_key_pem` (SPKI PEM or raw base64), checked at load.
    pub public_key: Option<agent5_api::integrations::telnyx::signature::PublicKey>,
    pub signature_tolerance_secs: u64,
    pub codec: String,
    pub answering_machine_detection: String,
    pub hangup_on_machine: bool,
    pub answer_inbound: bool,
    pub max_concurrent_calls: u64,
    pub request_timeout: Duration,
    pub ring_timeout_secs: u32,
    pub retry_attempts: u32,
    pub retry_backoff: Duration,
    pub transfer_to: Option<String>,
}

/// The live-call agent and recordings.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub realtime_url: String,
    pub model: String,
    pub transcription_model: String,
    pub connect_timeout: Duration,
    pub silence_timeout: Duration,
    pub recordings_dir: PathBuf,
    /// 0 keeps recordings forever.
    pub retention_days: u64,
}

impl Integrations {
    /// `(name, configured, what is missing)` for each integration, for `/readyz`.
    pub fn status(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let missing = |pairs: &[(&'static str, bool)]| -> Vec<&'static str> {
            pairs
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(k, _)| *k)
                .collect()
        };
        vec![
            (
                "telnyx",
                missing(&[
                    ("TELNYX_API_KEY", self.telnyx_api_key.is_some()),
                    ("TELNYX_CONNECTION_ID", self.telnyx_connection_id.is_some()),
                    ("TELNYX_PHONE_NUMBER", self.telnyx_phone_number.is_some()),
                    ("TELNYX_STREAM_URL", self.telnyx_stream_url.is_some()),
                    (
                        "TELNYX_PUBLIC_KEY_PEM",
                        self.telnyx_public_key_pem.is_some(),
                    ),
                ]),
            ),
            (
                "openai",
                missing(&[("OPENAI_API_KEY", self.openai_api_key.is_some())]),
            ),
            (
                "livekit",
                missing(&[
                    ("LIVEKIT_SERVER_URL", self.livekit_server_url.is_some()),
                    ("LIVEKIT_API_KEY", self.livekit_api_key.is_some()),
                    ("LIVEKIT_API_SECRET", self.livekit_api_secret.is_some()),
                ]),
            ),
        ]
    }
}

/// Browser sessions: their lifetimes, and the origin the console is reached on when
/// that is not the `Host` of the request (behind a proxy that rewrites it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accounts {
    pub sessions: agent5_api::accounts::SessionSettings,
    /// `scheme://host[:port]`, lower case.
    pub public_origin: Option<String>,
}
