//! Configuration: file -> environment -> command line -> one validated [`Config`].
//!
//! The TOML shape lives in [`file`], environment input in [`env`]. Everything the
//! appliance uses at run time is the validated form below; a validation failure is a
//! [`ConfigError`] naming the key and the problem, which `agent5 check-config` prints.

pub mod env;
pub mod file;
mod parse;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{Env, Layered, ProcessEnv};
pub use parse::{AllowedOrigin, CorsOrigins, ListenAddr, TrustProxy};

use file::FileConfig;
use validate::validate;

/// A configuration problem: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// What is wrong with one value (the caller knows its key: [`ConfigError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Problem(pub String);

impl From<Problem> for String {
    fn from(p: Problem) -> Self {
        p.0
    }
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Command-line values that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
}

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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub listen: Vec<ListenAddr>,
    pub tls: Option<TlsConfig>,
    pub metrics_listen: Option<ListenAddr>,
    pub metrics_on_main_listeners: bool,
    pub data_dir: PathBuf,
    pub admin_dir: PathBuf,
    pub threads: usize,
    pub work_stealing: bool,
    pub grace_period: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub trust_proxy: TrustProxy,
    pub auth_tokens: Vec<Secret>,
    pub rate_limits: RateLimits,
    pub cors: CorsOrigins,
    pub limits: BodyLimits,
    pub connections: ConnectionLimits,
    pub log_level: String,
    pub access_log: bool,
    pub protect_recordings: bool,
    /// The embedded database file (used when no MongoDB URI is configured).
    pub sqlite_path: PathBuf,
    /// Region national phone numbers are read in (uploads, search).
    pub default_region: agent5_api::phone::Region,
    pub integrations: Integrations,
    pub websocket_echo: bool,
    pub telnyx: TelnyxOptions,
    pub calls: CallOptions,
    /// Lifetime of the LiveKit tokens `/api/livekit/token` mints.
    pub livekit_token_ttl: Duration,
}

impl Config {
    /// Loads `path` (or the built-in defaults), the `.env` file beside it, the
    /// environment and the command line, then validates the result.
    pub fn load(
        path: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Env,
    ) -> Result<Self, ConfigError> {
        let file = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigError::new(p.display().to_string(), format!("cannot read: {e}"))
                })?;
                parse_toml(&text).map_err(|e| ConfigError::new(p.display().to_string(), e))?
            }
            None => FileConfig::default(),
        };
        Self::from_sources(file, path, overrides, env)
    }

    /// Builds the validated config from an already parsed file.
    pub fn from_sources(
        mut file: FileConfig,
        path: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Env,
    ) -> Result<Self, ConfigError> {
        apply_env(&mut file, env)?;
        if !overrides.listen.is_empty() {
            file.server.listen.clone_from(&overrides.listen);
        }
        if let Some(dir) = &overrides.data_dir {
            file.server.data_dir = dir.display().to_string();
        }
        if let Some(addr) = &overrides.metrics_listen {
            file.metrics.listen.clone_from(addr);
        }
        validate(file, path)
    }
}

/// Parses the TOML text; the error names the offending key and line.
pub fn parse_toml(text: &str) -> Result<FileConfig, Problem> {
    toml::from_str(text).map_err(|e| Problem(e.to_string().trim_end().replace('\n', " ")))
}

fn apply_env(file: &mut FileConfig, env: &dyn Env) -> Result<(), ConfigError> {
    let get = |key: &str| env::lookup(env, key);
    let set = |slot: &mut String, key: &str| -> Result<(), ConfigError> {
        if let Some(v) = env::lookup(env, key)? {
            *slot = v;
        }
        Ok(())
    };
    set(&mut file.store.mongo_uri, "MONGO_URI")?;
    set(&mut file.openai.api_key, "OPENAI_API_KEY")?;
    set(&mut file.openai.realtime_url, "OPENAI_REALTIME_URL")?;
    set(&mut file.telnyx.transfer_to, "TELNYX_TRANSFER_TO")?;
    set(&mut file.recordings.dir, "RECORDINGS_DIR")?;
    set(&mut file.telnyx.api_key, "TELNYX_API_KEY")?;
    set(&mut file.telnyx.connection_id, "TELNYX_CONNECTION_ID")?;
    set(&mut file.telnyx.phone_number, "TELNYX_PHONE_NUMBER")?;
    set(&mut file.telnyx.public_key_pem, "TELNYX_PUBLIC_KEY_PEM")?;
    set(&mut file.telnyx.stream_url, "TELNYX_STREAM_URL")?;
    set(&mut file.telnyx.api_base, "TELNYX_API_BASE")?;
    set(&mut file.livekit.server_url, "LIVEKIT_SERVER_URL")?;
    set(&mut file.livekit.api_key, "LIVEKIT_API_KEY")?;
    set(&mut file.livekit.api_secret, "LIVEKIT_API_SECRET")?;
    set(&mut file.server.trust_proxy, "TRUST_PROXY")?;
    set(&mut file.server.data_dir, "AGENT5_DATA_DIR")?;
    if let Some(tokens) = get("AUTH_TOKEN")? {
        file.auth.tokens = split_list(&tokens);
    }
    if let Some(origins) = get("CORS_ORIGIN")? {
        file.cors.origins = split_list(&origins);
    }
    if let Some(v) = get("PROTECT_RECORDINGS")? {
        file.recordings.protect = parse::boolean(&v).ok_or_else(|| {
            ConfigError::new("PROTECT_RECORDINGS", format!("not a boolean: {v:?}"))
        })?;
    }
    if let Some(port) = get("PORT")? {
        let port: u16 = port
            .parse()
            .map_err(|_| ConfigError::new("PORT", format!("not a port number: {port:?}")))?;
        file.server.listen = parse::with_port(&file.server.listen, port)
            .map_err(|problem| ConfigError::new("PORT", problem))?;
    }
    Ok(())
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn non_empty(v: String) -> Option<String> {
    let v = v.trim().to_owned();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests;
