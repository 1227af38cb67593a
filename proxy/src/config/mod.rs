//! Configuration: file -> environment -> command line -> one validated [`Config`].
//!
//! The TOML shape lives in [`file`], environment input in [`env`]. Everything the
//! appliance uses at run time is the validated form below; a validation failure is a
//! [`ConfigError`] naming the key and the problem, which `agent5 check-config` prints.

pub mod env;
pub mod file;
mod parse;
mod settings;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{Env, Layered, ProcessEnv};
pub use parse::{AllowedOrigin, CorsOrigins, ListenAddr, TrustProxy};

use file::{
    AuthSection, ClusterSection, ConsoleSection, CorsSection, DevSection, DialerSection,
    LimitsSection, LiveKitSection, LogSection, MetricsSection, OpenAiSection, ProspectsSection,
    RateLimitSection, RecordingsSection, ServerSection, StoreSection, TelnyxSection, TlsSection,
};
use serde::Deserialize;
use validate as section;

pub use settings::*;

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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub listen: Vec<ListenAddr>,
    pub tls: Option<TlsConfig>,
    pub metrics_listen: Option<ListenAddr>,
    pub metrics_on_main_listeners: bool,
    pub data_dir: PathBuf,
    /// Where the console's files come from: `None` is the copy embedded in the binary.
    pub console_dir: Option<PathBuf>,
    pub threads: usize,
    pub work_stealing: bool,
    /// The `nice` of the blocking pool's work (`agent5_api::background`); 0 is off.
    pub background_nice: i32,
    pub grace_period: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub trust_proxy: TrustProxy,
    pub auth_tokens: Vec<Secret>,
    /// Session lifetimes and the public origin (`[auth]`).
    pub accounts: Accounts,
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
    pub dialer: DialerSection,
    pub cluster: ClusterSection,
    /// The internal hop between appliances (`[cluster] internal_listen`), if any.
    pub internal: Option<InternalHop>,
}

/// This appliance's side of the internal hop: where it listens, how the others reach
/// it, and the secret that authenticates each forwarded request.
#[derive(Debug, Clone)]
pub struct InternalHop {
    pub listen: ListenAddr,
    /// Registered in the store for the other appliances (`10.0.0.2:7070`,
    /// `unix:/abs/path`).
    pub address: String,
    pub secret: Secret,
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

/// The configuration file's shape: one field per `[section]` (each section's keys and
/// defaults in [`file`]). A new section is registered here, in [`Config`] and in
/// [`validate`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub server: ServerSection,
    pub tls: TlsSection,
    pub auth: AuthSection,
    pub rate_limit: RateLimitSection,
    pub cors: CorsSection,
    pub limits: LimitsSection,
    pub log: LogSection,
    pub metrics: MetricsSection,
    pub store: StoreSection,
    pub telnyx: TelnyxSection,
    pub openai: OpenAiSection,
    pub livekit: LiveKitSection,
    pub recordings: RecordingsSection,
    pub prospects: ProspectsSection,
    pub console: ConsoleSection,
    pub dialer: DialerSection,
    pub cluster: ClusterSection,
    pub dev: DevSection,
}

/// The validated configuration of `file` (read from `path`, if any).
fn validate(file: FileConfig, path: Option<&Path>) -> Result<Config, ConfigError> {
    let section::Listeners {
        listen,
        tls,
        metrics_listen,
    } = section::listeners(&file)?;
    section::server(&file.server)?;
    let (auth_tokens, accounts) = section::auth(file.auth)?;
    let rate_limits = section::rate_limits(&file.rate_limit)?;
    section::limits(&file.limits)?;
    let log_level = section::log(&file.log)?;
    let (telnyx, stream_url) = section::telnyx(&file.telnyx)?;
    let data_dir = PathBuf::from(
        non_empty(file.server.data_dir.clone())
            .unwrap_or_else(|| file::DEFAULT_DATA_DIR.to_owned()),
    );
    let calls = section::calls(&file.openai, &file.recordings, &data_dir)?;
    let livekit_token_ttl = section::livekit(&file.livekit)?;
    let dialer = section::dialer(file.dialer.clone())?;
    let (cluster, internal) = section::cluster(file.cluster.clone())?;
    let (sqlite_path, mongo_uri) = section::store(file.store, &data_dir)?;
    let limits = file.limits;
    Ok(Config {
        source: path.map(Path::to_path_buf),
        listen,
        tls,
        metrics_listen,
        metrics_on_main_listeners: file.metrics.on_main_listeners,
        data_dir,
        // `server.admin_dir` is the older name of `console.dir`.
        console_dir: non_empty(file.console.dir)
            .or_else(|| non_empty(file.server.admin_dir))
            .map(PathBuf::from),
        threads: file.server.threads,
        work_stealing: file.server.work_stealing,
        background_nice: file.server.background_nice,
        grace_period: Duration::from_secs(file.server.grace_period_secs),
        header_timeout: Duration::from_secs(file.server.header_timeout_secs),
        idle_timeout: Duration::from_secs(file.server.idle_timeout_secs),
        trust_proxy: TrustProxy::parse(&file.server.trust_proxy)
            .map_err(|p| ConfigError::new("server.trust_proxy", p))?,
        auth_tokens,
        accounts,
        rate_limits,
        cors: CorsOrigins::parse(&file.cors.origins)
            .map_err(|p| ConfigError::new("cors.origins", p))?,
        limits: BodyLimits {
            json: limits.json_body_bytes,
            upload: limits.upload_body_bytes,
            webhook: limits.webhook_body_bytes,
            websocket_message: limits.websocket_message_bytes,
            upload_max_rows: limits.upload_max_rows,
            head: usize::try_from(limits.max_head_bytes).unwrap_or(usize::MAX),
        },
        connections: section::connections(&limits)?,
        log_level,
        access_log: file.log.access_log,
        protect_recordings: file.recordings.protect,
        sqlite_path,
        default_region: file
            .prospects
            .default_region
            .parse()
            .map_err(|p| ConfigError::new("prospects.default_region", p))?,
        integrations: Integrations {
            mongo_uri: mongo_uri.map(Secret::new),
            openai_api_key: non_empty(file.openai.api_key).map(Secret::new),
            telnyx_api_key: non_empty(file.telnyx.api_key).map(Secret::new),
            telnyx_connection_id: non_empty(file.telnyx.connection_id),
            telnyx_phone_number: non_empty(file.telnyx.phone_number),
            telnyx_public_key_pem: non_empty(file.telnyx.public_key_pem),
            telnyx_stream_url: stream_url,
            telnyx_verify_signatures: file.telnyx.verify_signatures,
            livekit_server_url: non_empty(file.livekit.server_url),
            livekit_api_key: non_empty(file.livekit.api_key),
            livekit_api_secret: non_empty(file.livekit.api_secret).map(Secret::new),
        },
        websocket_echo: file.dev.websocket_echo,
        telnyx,
        calls,
        livekit_token_ttl,
        dialer,
        cluster,
        internal,
    })
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
    set(&mut file.cluster.secret, "AGENT5_CLUSTER_SECRET")?;
    if let Some(tokens) = get("AUTH_TOKEN")? {
        file.auth.tokens = split_list(&tokens);
    }
    if let Some(origin) = get("PUBLIC_ORIGIN")? {
        file.auth.public_origin = origin;
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
