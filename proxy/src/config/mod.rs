//! Configuration: file -> environment -> command line -> one validated [`Config`].
//!
//! The TOML shape lives in [`file`], environment input in [`env`]. Everything the
//! appliance uses at run time is the validated form below; a validation failure is a
//! [`ConfigError`] naming the key and the problem, which `agent5 check-config` prints.

pub mod env;
pub mod file;
mod parse;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{Env, Layered, ProcessEnv};
pub use parse::{AllowedOrigin, CorsOrigins, ListenAddr, TrustProxy};

use file::{BudgetEntry, FileConfig};

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
pub fn parse_toml(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
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

fn non_empty(v: String) -> Option<String> {
    let v = v.trim().to_owned();
    (!v.is_empty()).then_some(v)
}

fn validate(file: FileConfig, path: Option<&Path>) -> Result<Config, ConfigError> {
    let listen = parse::listen_list("server.listen", &file.server.listen)?;
    let tls_listen = parse::listen_list("tls.listen", &file.tls.listen)?;
    let redirect_listen = parse::listen_list("tls.redirect_listen", &file.tls.redirect_listen)?;
    if listen.is_empty() && tls_listen.is_empty() {
        return Err(ConfigError::new(
            "server.listen",
            "no listener configured (set server.listen or tls.listen)",
        ));
    }
    if let Some(addr) = tls_listen.iter().find(|a| matches!(a, ListenAddr::Unix(_))) {
        return Err(ConfigError::new(
            "tls.listen",
            format!("{addr}: TLS listeners must be TCP addresses"),
        ));
    }
    let tls = if tls_listen.is_empty() {
        if !redirect_listen.is_empty() {
            return Err(ConfigError::new(
                "tls.redirect_listen",
                "redirects to HTTPS need at least one tls.listen address",
            ));
        }
        None
    } else {
        let acme = parse::acme(
            &file.tls.acme,
            &PathBuf::from(
                non_empty(file.server.data_dir.clone())
                    .unwrap_or_else(|| file::DEFAULT_DATA_DIR.to_owned()),
            ),
            !listen.is_empty() || !redirect_listen.is_empty(),
        )?;
        if file.tls.certificates.is_empty() && acme.is_none() {
            return Err(ConfigError::new(
                "tls.certificates",
                "tls.listen is set but no certificate is configured (add one, or set tls.acme.domains)",
            ));
        }
        let mut certificates: Vec<CertPaths> = file
            .tls
            .certificates
            .iter()
            .map(|c| CertPaths {
                cert: PathBuf::from(&c.cert),
                key: PathBuf::from(&c.key),
            })
            .collect();
        certificates.extend(acme.as_ref().map(AcmeConfig::cert_paths));
        let watch = file.tls.watch_interval_secs.unwrap_or(60);
        Some(TlsConfig {
            listen: tls_listen,
            redirect_listen,
            certificates,
            watch_interval: (watch > 0).then(|| Duration::from_secs(watch)),
            acme,
        })
    };
    if tls.is_none() && !file.tls.acme.domains.is_empty() {
        return Err(ConfigError::new(
            "tls.acme.domains",
            "ACME certificates need a tls.listen address to serve them",
        ));
    }
    let metrics_listen = match non_empty(file.metrics.listen) {
        Some(addr) => Some(parse::listen_addr("metrics.listen", &addr)?),
        None => None,
    };

    let grace = file.server.grace_period_secs;
    if grace > 3600 {
        return Err(ConfigError::new(
            "server.grace_period_secs",
            format!("{grace} is more than an hour"),
        ));
    }
    for (key, v) in [
        (
            "server.header_timeout_secs",
            file.server.header_timeout_secs,
        ),
        ("server.idle_timeout_secs", file.server.idle_timeout_secs),
    ] {
        if v == 0 || v > 3600 {
            return Err(ConfigError::new(key, format!("{v} is not within 1..=3600")));
        }
    }
    if file.server.threads > 256 {
        return Err(ConfigError::new("server.threads", "more than 256 threads"));
    }

    let auth_tokens = file
        .auth
        .tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            if t.len() < 16 {
                Err(ConfigError::new(
                    format!("auth.tokens[{i}]"),
                    "a token must be at least 16 characters",
                ))
            } else if t.bytes().any(|b| !b.is_ascii_graphic()) {
                Err(ConfigError::new(
                    format!("auth.tokens[{i}]"),
                    "a token must be printable ASCII without spaces",
                ))
            } else {
                Ok(Secret::new(t))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let budget = |key: &str, b: BudgetEntry| -> Result<Budget, ConfigError> {
        if b.per_minute == 0 || b.burst == 0 {
            return Err(ConfigError::new(
                key,
                "per_minute and burst must both be at least 1",
            ));
        }
        Ok(Budget {
            per_minute: b.per_minute,
            burst: b.burst,
        })
    };
    let rate_limits = RateLimits {
        api: budget("rate_limit.api", file.rate_limit.api)?,
        webhook: budget("rate_limit.webhook", file.rate_limit.webhook)?,
        websocket: budget("rate_limit.websocket", file.rate_limit.websocket)?,
        max_tracked_clients: file.rate_limit.max_tracked_clients.max(1),
    };

    let limits = file.limits;
    for (key, v) in [
        ("limits.json_body_bytes", limits.json_body_bytes),
        ("limits.upload_body_bytes", limits.upload_body_bytes),
        ("limits.webhook_body_bytes", limits.webhook_body_bytes),
        (
            "limits.websocket_message_bytes",
            limits.websocket_message_bytes,
        ),
        ("limits.upload_max_rows", limits.upload_max_rows),
        ("limits.max_head_bytes", limits.max_head_bytes),
        (
            "limits.max_connections_per_client",
            limits.max_connections_per_client,
        ),
    ] {
        if v == 0 {
            return Err(ConfigError::new(key, "must be at least 1"));
        }
    }

    let log_level = file.log.level.trim().to_owned();
    if !parse::log_filter(&log_level) {
        return Err(ConfigError::new(
            "log.level",
            format!("{log_level:?} is not a level or target=level list (try info, debug, warn)"),
        ));
    }

    let stream_url = non_empty(file.telnyx.stream_url.clone());
    if let Some(url) = &stream_url {
        if !(url.starts_with("wss://") || url.starts_with("ws://")) {
            return Err(ConfigError::new(
                "telnyx.stream_url",
                format!("{url:?} must start with wss:// (or ws:// for tests)"),
            ));
        }
    }

    let t = &file.telnyx;
    let public_key = non_empty(t.public_key_pem.clone())
        .map(|k| agent5_api::integrations::telnyx::signature::PublicKey::parse(&k))
        .transpose()
        .map_err(|e| ConfigError::new("telnyx.public_key_pem", e.to_string()))?;
    let api_base = t.api_base.trim().trim_end_matches('/').to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(ConfigError::new(
            "telnyx.api_base",
            format!("{api_base:?} must be an http(s) URL"),
        ));
    }
    if !matches!(t.codec.as_str(), "PCMU" | "PCMA") {
        return Err(ConfigError::new("telnyx.codec", "must be PCMU or PCMA"));
    }
    const AMD: [&str; 6] = [
        "disabled",
        "detect",
        "detect_beep",
        "detect_words",
        "greeting_end",
        "premium",
    ];
    if !AMD.contains(&t.answering_machine_detection.as_str()) {
        return Err(ConfigError::new(
            "telnyx.answering_machine_detection",
            format!("must be one of {}", AMD.join(", ")),
        ));
    }
    for (key, v, max) in [
        (
            "telnyx.signature_tolerance_secs",
            t.signature_tolerance_secs,
            3600,
        ),
        (
            "telnyx.max_concurrent_calls",
            t.max_concurrent_calls,
            10_000,
        ),
        ("telnyx.request_timeout_secs", t.request_timeout_secs, 120),
        ("telnyx.ring_timeout_secs", t.ring_timeout_secs, 600),
        ("telnyx.retry_attempts", u64::from(t.retry_attempts), 10),
        ("telnyx.retry_backoff_ms", t.retry_backoff_ms, 60_000),
    ] {
        if v == 0 || v > max {
            return Err(ConfigError::new(key, format!("must be in 1..={max}")));
        }
    }
    let telnyx = TelnyxOptions {
        api_base,
        public_key,
        signature_tolerance_secs: t.signature_tolerance_secs,
        codec: t.codec.clone(),
        answering_machine_detection: t.answering_machine_detection.clone(),
        hangup_on_machine: t.hangup_on_machine,
        answer_inbound: t.answer_inbound,
        max_concurrent_calls: t.max_concurrent_calls,
        request_timeout: Duration::from_secs(t.request_timeout_secs),
        ring_timeout_secs: u32::try_from(t.ring_timeout_secs).unwrap_or(u32::MAX),
        retry_attempts: t.retry_attempts,
        retry_backoff: Duration::from_millis(t.retry_backoff_ms),
        transfer_to: non_empty(t.transfer_to.clone()),
    };
    let o = &file.openai;
    let realtime_url = o.realtime_url.trim().to_owned();
    if !(realtime_url.starts_with("wss://") || realtime_url.starts_with("ws://")) {
        return Err(ConfigError::new(
            "openai.realtime_url",
            format!("{realtime_url:?} must start with wss:// (or ws:// for tests)"),
        ));
    }
    for (key, v, max) in [
        ("openai.connect_timeout_secs", o.connect_timeout_secs, 60),
        ("openai.silence_timeout_secs", o.silence_timeout_secs, 60),
    ] {
        if v == 0 || v > max {
            return Err(ConfigError::new(key, format!("must be in 1..={max}")));
        }
    }
    if o.model.trim().is_empty() {
        return Err(ConfigError::new("openai.model", "must not be empty"));
    }

    let data_dir = PathBuf::from(
        non_empty(file.server.data_dir).unwrap_or_else(|| file::DEFAULT_DATA_DIR.to_owned()),
    );
    let ttl = match file.livekit.token_ttl_secs {
        0 => 3600,
        t if t <= 86_400 => t,
        _ => {
            return Err(ConfigError::new(
                "livekit.token_ttl_secs",
                "must be at most 86400 (0: one hour)",
            ))
        }
    };
    let calls = CallOptions {
        realtime_url,
        model: o.model.trim().to_owned(),
        transcription_model: o.transcription_model.trim().to_owned(),
        connect_timeout: Duration::from_secs(o.connect_timeout_secs),
        silence_timeout: Duration::from_secs(o.silence_timeout_secs),
        recordings_dir: non_empty(file.recordings.dir.clone())
            .map_or_else(|| data_dir.join("recordings"), PathBuf::from),
        retention_days: file.recordings.retention_days,
    };
    let sqlite_path =
        non_empty(file.store.sqlite_path).map_or_else(|| data_dir.join("agent5.db"), PathBuf::from);
    let mongo_uri = non_empty(file.store.mongo_uri);
    if let Some(uri) = &mongo_uri {
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::new(
                "store.mongo_uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
    }

    Ok(Config {
        source: path.map(Path::to_path_buf),
        listen,
        tls,
        metrics_listen,
        metrics_on_main_listeners: file.metrics.on_main_listeners,
        data_dir,
        admin_dir: PathBuf::from(file.server.admin_dir),
        threads: file.server.threads,
        work_stealing: file.server.work_stealing,
        grace_period: Duration::from_secs(grace),
        header_timeout: Duration::from_secs(file.server.header_timeout_secs),
        idle_timeout: Duration::from_secs(file.server.idle_timeout_secs),
        trust_proxy: TrustProxy::parse(&file.server.trust_proxy)
            .map_err(|p| ConfigError::new("server.trust_proxy", p))?,
        auth_tokens,
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
        connections: ConnectionLimits {
            total: match limits.max_connections {
                0 => ConnectionLimits::auto_total(open_files_limit()),
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
            per_client: usize::try_from(limits.max_connections_per_client).unwrap_or(usize::MAX),
            exempt: parse::networks(limits.connections_exempt.iter().map(String::as_str))
                .map_err(|p| ConfigError::new("limits.connections_exempt", p))?,
        },
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
        livekit_token_ttl: Duration::from_secs(ttl),
    })
}

#[cfg(test)]
mod tests;
