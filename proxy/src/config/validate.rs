//! One validation per section of the configuration file: each turns its section into
//! the validated form, or names the key that is wrong. [`validate`] puts them together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{
    self, AuthSection, BudgetEntry, ClusterSection, DialerSection, LimitsSection, LiveKitSection,
    LogSection, OpenAiSection, RateLimitSection, RecordingsSection, ServerSection, StoreSection,
    TelnyxSection,
};
use super::{
    non_empty, open_files_limit, parse, Accounts, AcmeConfig, Budget, CallOptions, CertPaths,
    ConfigError, ConnectionLimits, FileConfig, InternalHop, ListenAddr, RateLimits, Secret,
    TelnyxOptions, TlsConfig,
};

pub(super) struct Listeners {
    pub listen: Vec<ListenAddr>,
    pub tls: Option<TlsConfig>,
    pub metrics_listen: Option<ListenAddr>,
}

/// `server.listen`, `[tls]` (with ACME) and `metrics.listen`.
pub(super) fn listeners(file: &FileConfig) -> Result<Listeners, ConfigError> {
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
    let metrics_listen = match non_empty(file.metrics.listen.clone()) {
        Some(addr) => Some(parse::listen_addr("metrics.listen", &addr)?),
        None => None,
    };
    Ok(Listeners {
        listen,
        tls,
        metrics_listen,
    })
}

/// `[server]`: grace period, timeouts, threads, background priority.
pub(super) fn server(section: &ServerSection) -> Result<(), ConfigError> {
    let grace = section.grace_period_secs;
    if grace > 3600 {
        return Err(ConfigError::new(
            "server.grace_period_secs",
            format!("{grace} is more than an hour"),
        ));
    }
    for (key, v) in [
        ("server.header_timeout_secs", section.header_timeout_secs),
        ("server.idle_timeout_secs", section.idle_timeout_secs),
    ] {
        if v == 0 || v > 3600 {
            return Err(ConfigError::new(key, format!("{v} is not within 1..=3600")));
        }
    }
    if section.threads > 256 {
        return Err(ConfigError::new("server.threads", "more than 256 threads"));
    }
    let nice = section.background_nice;
    if !(0..=agent5_api::background::MAX_NICE).contains(&nice) {
        return Err(ConfigError::new(
            "server.background_nice",
            format!("{nice} is not within 0..=19"),
        ));
    }
    Ok(())
}

/// `[auth]`: the bearer tokens.
pub(super) fn auth(section: AuthSection) -> Result<(Vec<Secret>, Accounts), ConfigError> {
    let accounts = accounts(&section)?;
    let tokens = section
        .tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            if t.starts_with(agent5_api::accounts::secret::TOKEN_PREFIX) {
                Err(ConfigError::new(
                    format!("auth.tokens[{i}]"),
                    "tokens starting with a5_ are per-person API tokens (POST /api/tokens), not configuration",
                ))
            } else if t.len() < 16 {
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
    Ok((tokens, accounts))
}

/// The longest session lifetime accepted (90 days).
const MAX_SESSION_SECS: u64 = 90 * 24 * 3600;

/// `[auth]` session lifetimes and the public origin browsers reach the console on.
fn accounts(section: &AuthSection) -> Result<Accounts, ConfigError> {
    let (idle, absolute) = (section.session_idle_secs, section.session_absolute_secs);
    if !(60..=MAX_SESSION_SECS).contains(&idle) {
        return Err(ConfigError::new(
            "auth.session_idle_secs",
            "must be 60 (a minute) to 7776000 (90 days)",
        ));
    }
    if !(idle..=MAX_SESSION_SECS).contains(&absolute) {
        return Err(ConfigError::new(
            "auth.session_absolute_secs",
            "must be at least auth.session_idle_secs and at most 7776000 (90 days)",
        ));
    }
    let public_origin = match section.public_origin.trim() {
        "" => None,
        origin => {
            Some(parse::origin(origin).map_err(|p| ConfigError::new("auth.public_origin", p))?)
        }
    };
    Ok(Accounts {
        sessions: agent5_api::accounts::SessionSettings {
            idle: Duration::from_secs(idle),
            absolute: Duration::from_secs(absolute),
        },
        public_origin,
    })
}

/// `[rate_limit]`: the budgets per route class.
pub(super) fn rate_limits(section: &RateLimitSection) -> Result<RateLimits, ConfigError> {
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
    Ok(RateLimits {
        api: budget("rate_limit.api", section.api)?,
        webhook: budget("rate_limit.webhook", section.webhook)?,
        websocket: budget("rate_limit.websocket", section.websocket)?,
        max_tracked_clients: section.max_tracked_clients.max(1),
    })
}

/// `[limits]`: body, message and head sizes, rows per upload.
pub(super) fn limits(limits: &LimitsSection) -> Result<(), ConfigError> {
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
    Ok(())
}

/// `[limits]`: the connection caps.
pub(super) fn connections(limits: &LimitsSection) -> Result<ConnectionLimits, ConfigError> {
    Ok(ConnectionLimits {
        total: match limits.max_connections {
            0 => ConnectionLimits::auto_total(open_files_limit()),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
        per_client: usize::try_from(limits.max_connections_per_client).unwrap_or(usize::MAX),
        exempt: parse::networks(limits.connections_exempt.iter().map(String::as_str))
            .map_err(|p| ConfigError::new("limits.connections_exempt", p))?,
    })
}

/// `[log]`: the level filter.
pub(super) fn log(section: &LogSection) -> Result<String, ConfigError> {
    let log_level = section.level.trim().to_owned();
    if !parse::log_filter(&log_level) {
        return Err(ConfigError::new(
            "log.level",
            format!("{log_level:?} is not a level or target=level list (try info, debug, warn)"),
        ));
    }
    Ok(log_level)
}

/// `[telnyx]`: the Call Control client, webhook verification and dial options.
pub(super) fn telnyx(t: &TelnyxSection) -> Result<(TelnyxOptions, Option<String>), ConfigError> {
    let stream_url = non_empty(t.stream_url.clone());
    if let Some(url) = &stream_url {
        if !(url.starts_with("wss://") || url.starts_with("ws://")) {
            return Err(ConfigError::new(
                "telnyx.stream_url",
                format!("{url:?} must start with wss:// (or ws:// for tests)"),
            ));
        }
    }

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
    Ok((telnyx, stream_url))
}

/// `[openai]` and `[recordings]`: what each call's bridge needs.
pub(super) fn calls(
    o: &OpenAiSection,
    recordings: &RecordingsSection,
    data_dir: &Path,
) -> Result<CallOptions, ConfigError> {
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
    Ok(CallOptions {
        realtime_url,
        model: o.model.trim().to_owned(),
        transcription_model: o.transcription_model.trim().to_owned(),
        connect_timeout: Duration::from_secs(o.connect_timeout_secs),
        silence_timeout: Duration::from_secs(o.silence_timeout_secs),
        recordings_dir: non_empty(recordings.dir.clone())
            .map_or_else(|| data_dir.join("recordings"), PathBuf::from),
        retention_days: recordings.retention_days,
    })
}

/// `[dialer]`: bounds on each tuning key.
pub(super) fn dialer(d: DialerSection) -> Result<DialerSection, ConfigError> {
    for (key, v, lo, hi) in [
        (
            "dialer.reconcile_after_secs",
            d.reconcile_after_secs,
            30,
            86_400,
        ),
        ("dialer.lease_ttl_secs", d.lease_ttl_secs, 3, 600),
        ("dialer.refill_every_secs", d.refill_every_secs, 10, 86_400),
        (
            "dialer.failure_pause_after",
            u64::from(d.failure_pause_after),
            1,
            1000,
        ),
        ("dialer.inbound_reserve", d.inbound_reserve, 0, 10_000),
    ] {
        if !(lo..=hi).contains(&v) {
            return Err(ConfigError::new(key, format!("must be in {lo}..={hi}")));
        }
    }
    if !(d.abandon_pause_rate > 0.0 && d.abandon_pause_rate <= 0.03) {
        return Err(ConfigError::new(
            "dialer.abandon_pause_rate",
            "must be above 0 and at most 0.03 (the legal limit is 3%)",
        ));
    }
    if d.node.len() > 100 {
        return Err(ConfigError::new("dialer.node", "at most 100 characters"));
    }
    Ok(d)
}

/// `[cluster]`: a node name a person can read, a public URL that is one, a heartbeat
/// ttl long enough for a busy store and short enough to spare people dead air, and
/// the internal hop (see [`internal_hop`]). The secret leaves the section here: it is
/// kept only in the returned [`InternalHop`].
pub(super) fn cluster(
    mut c: ClusterSection,
) -> Result<(ClusterSection, Option<InternalHop>), ConfigError> {
    let name_ok = c.node.len() <= 64
        && c.node
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if !name_ok {
        return Err(ConfigError::new(
            "cluster.node",
            "at most 64 letters, digits, '-', '_' or '.'",
        ));
    }
    let url = c.public_url.trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if !url.is_empty() && host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', ' '])) {
        return Err(ConfigError::new(
            "cluster.public_url",
            format!("{url:?} must be an http(s) origin, e.g. https://node-a.example.com"),
        ));
    }
    if !(3..=600).contains(&c.heartbeat_ttl_secs) {
        return Err(ConfigError::new(
            "cluster.heartbeat_ttl_secs",
            "must be in 3..=600",
        ));
    }
    if c.recording_interval_secs > 60 {
        return Err(ConfigError::new(
            "cluster.recording_interval_secs",
            "must be at most 60 (0: recordings stay on the appliance that took the call)",
        ));
    }
    let internal = internal_hop(&c)?;
    c.public_url = url.to_owned();
    c.secret.clear();
    Ok((c, internal))
}

/// Shortest shared secret the internal hop accepts.
const MIN_CLUSTER_SECRET: usize = 32;

/// `[cluster] internal_listen`, `internal_address` and `secret`: a listener the other
/// appliances can reach (an address they can dial, never a wildcard or port 0) and a
/// secret long enough to sign with.
fn internal_hop(c: &ClusterSection) -> Result<Option<InternalHop>, ConfigError> {
    if c.internal_listen.trim().is_empty() {
        if !c.internal_address.trim().is_empty() {
            return Err(ConfigError::new(
                "cluster.internal_address",
                "set cluster.internal_listen too (the address is where it is reached)",
            ));
        }
        return Ok(None);
    }
    let listen = parse::listen_addr("cluster.internal_listen", &c.internal_listen)?;
    let secret = c.secret.trim();
    if secret.len() < MIN_CLUSTER_SECRET {
        return Err(ConfigError::new(
            "cluster.secret",
            format!(
                "the internal listener needs a shared secret of at least {MIN_CLUSTER_SECRET} characters (AGENT5_CLUSTER_SECRET or AGENT5_CLUSTER_SECRET_FILE)"
            ),
        ));
    }
    let address = match (c.internal_address.trim(), &listen) {
        ("", ListenAddr::Tcp(a)) if a.ip().is_unspecified() || a.port() == 0 => {
            return Err(ConfigError::new(
                "cluster.internal_address",
                format!("{a} cannot be dialled by the other appliances: name the address they reach it at (e.g. 10.0.0.2:{})", a.port()),
            ));
        }
        ("", ListenAddr::Tcp(a)) => a.to_string(),
        ("", ListenAddr::Unix(p)) => {
            let p = std::path::absolute(p).map_err(|e| {
                ConfigError::new("cluster.internal_listen", format!("{}: {e}", p.display()))
            })?;
            format!("unix:{}", p.display())
        }
        (given, _) => match parse::listen_addr("cluster.internal_address", given)? {
            ListenAddr::Tcp(a) if a.ip().is_unspecified() || a.port() == 0 => {
                return Err(ConfigError::new(
                        "cluster.internal_address",
                        format!("{a} cannot be dialled: give the address and port the other appliances reach"),
                    ));
            }
            a => a.to_string(),
        },
    };
    Ok(Some(InternalHop {
        listen,
        address,
        secret: Secret::new(secret),
    }))
}

/// `[livekit]`: the token lifetime (0: one hour).
pub(super) fn livekit(section: &LiveKitSection) -> Result<Duration, ConfigError> {
    let ttl = match section.token_ttl_secs {
        0 => 3600,
        t if t <= 86_400 => t,
        _ => {
            return Err(ConfigError::new(
                "livekit.token_ttl_secs",
                "must be at most 86400 (0: one hour)",
            ))
        }
    };
    Ok(Duration::from_secs(ttl))
}

/// `[store]`: the SQLite file, or a MongoDB URI.
pub(super) fn store(
    section: StoreSection,
    data_dir: &Path,
) -> Result<(PathBuf, Option<String>), ConfigError> {
    let sqlite_path =
        non_empty(section.sqlite_path).map_or_else(|| data_dir.join("agent5.db"), PathBuf::from);
    let mongo_uri = non_empty(section.mongo_uri);
    if let Some(uri) = &mongo_uri {
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::new(
                "store.mongo_uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
    }
    Ok((sqlite_path, mongo_uri))
}
