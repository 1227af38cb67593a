//! The TOML shape of `conf/agent5.toml`.
//!
//! This is the user-facing layout only: every field has a default, unknown keys are
//! refused, and nothing here is trusted until [`super::Config::from_sources`] has
//! validated it. Defaults live in the `DEFAULT_*` constants so the example config,
//! the README and the code cannot drift apart silently (a unit test parses the example).

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 30;
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_JSON_BODY_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_UPLOAD_BODY_BYTES: u64 = 50 * 1024 * 1024;
pub const DEFAULT_WEBHOOK_BODY_BYTES: u64 = 256 * 1024;
pub const DEFAULT_WS_MESSAGE_BYTES: u64 = 1024 * 1024;
/// nginx's `large_client_header_buffers 4 8k`: a request line and headers together.
pub const DEFAULT_MAX_HEAD_BYTES: u64 = 32 * 1024;
/// Open connections one client (IPv4 address, IPv6 /64) may hold.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u64 = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProspectsSection {
    pub default_region: String,
}

impl Default for ProspectsSection {
    fn default() -> Self {
        Self {
            default_region: "BE".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: Vec<String>,
    pub data_dir: String,
    pub admin_dir: String,
    pub threads: usize,
    pub work_stealing: bool,
    pub background_nice: i32,
    pub grace_period_secs: u64,
    pub header_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub trust_proxy: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: vec![DEFAULT_LISTEN.to_owned()],
            data_dir: DEFAULT_DATA_DIR.to_owned(),
            admin_dir: String::new(),
            threads: 0,
            work_stealing: false,
            background_nice: agent5_api::background::DEFAULT_NICE,
            grace_period_secs: DEFAULT_GRACE_PERIOD_SECS,
            header_timeout_secs: DEFAULT_HEADER_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
            trust_proxy: String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    pub listen: Vec<String>,
    pub redirect_listen: Vec<String>,
    pub certificates: Vec<CertificateEntry>,
    /// Seconds between checks of the certificate files for changes (0: only SIGHUP).
    pub watch_interval_secs: Option<u64>,
    pub acme: AcmeSection,
}

pub const DEFAULT_ACME_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const DEFAULT_ACME_RENEW_BEFORE_DAYS: u64 = 30;
pub const DEFAULT_ACME_CHECK_INTERVAL_SECS: u64 = 12 * 3600;
pub const DEFAULT_ACME_RETRY_SECS: u64 = 15 * 60;

/// Built-in ACME (HTTP-01): certificates for `domains` with no certbot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeSection {
    /// DNS names for one certificate; empty turns ACME off.
    pub domains: Vec<String>,
    /// Account contacts, e.g. `mailto:ops@example.com`.
    pub contact: Vec<String>,
    pub directory_url: String,
    /// PEM file of the CA that signs the ACME server's own TLS certificate (a private
    /// or test ACME server); empty: the system's trust store.
    pub ca_bundle: String,
    pub renew_before_days: u64,
    pub check_interval_secs: u64,
    /// Wait after a failed attempt before the next.
    pub retry_secs: u64,
}

impl Default for AcmeSection {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            contact: Vec::new(),
            directory_url: DEFAULT_ACME_DIRECTORY.to_owned(),
            ca_bundle: String::new(),
            renew_before_days: DEFAULT_ACME_RENEW_BEFORE_DAYS,
            check_interval_secs: DEFAULT_ACME_CHECK_INTERVAL_SECS,
            retry_secs: DEFAULT_ACME_RETRY_SECS,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub tokens: Vec<String>,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub public_origin: String,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            session_idle_secs: 8 * 3600,
            session_absolute_secs: 7 * 24 * 3600,
            public_origin: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    pub api: BudgetEntry,
    pub webhook: BudgetEntry,
    pub websocket: BudgetEntry,
    pub max_tracked_clients: usize,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        Self {
            api: BudgetEntry::new(20, 100),
            webhook: BudgetEntry::new(500, 2000),
            websocket: BudgetEntry::new(5, 20),
            max_tracked_clients: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetEntry {
    /// Sustained requests per minute per client.
    pub per_minute: u32,
    /// Requests a client may make at once before the sustained rate applies.
    pub burst: u32,
}

impl BudgetEntry {
    const fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_minute: per_second * 60,
            burst,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSection {
    pub origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub json_body_bytes: u64,
    pub upload_body_bytes: u64,
    pub webhook_body_bytes: u64,
    pub websocket_message_bytes: u64,
    pub upload_max_rows: u64,
    pub max_head_bytes: u64,
    pub max_connections: u64,
    pub max_connections_per_client: u64,
    pub connections_exempt: Vec<String>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            json_body_bytes: DEFAULT_JSON_BODY_BYTES,
            upload_body_bytes: DEFAULT_UPLOAD_BODY_BYTES,
            webhook_body_bytes: DEFAULT_WEBHOOK_BODY_BYTES,
            websocket_message_bytes: DEFAULT_WS_MESSAGE_BYTES,
            upload_max_rows: 1_000_000,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_connections: 0,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            connections_exempt: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub level: String,
    pub access_log: bool,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            access_log: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub listen: String,
    pub on_main_listeners: bool,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            listen: DEFAULT_METRICS_LISTEN.to_owned(),
            on_main_listeners: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub mongo_uri: String,
    pub sqlite_path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelnyxSection {
    pub api_key: String,
    pub api_base: String,
    pub connection_id: String,
    pub phone_number: String,
    pub public_key_pem: String,
    pub stream_url: String,
    pub verify_signatures: bool,
    pub signature_tolerance_secs: u64,
    pub codec: String,
    pub answering_machine_detection: String,
    pub hangup_on_machine: bool,
    pub answer_inbound: bool,
    pub max_concurrent_calls: u64,
    pub request_timeout_secs: u64,
    pub ring_timeout_secs: u64,
    pub retry_attempts: u32,
    pub retry_backoff_ms: u64,
    pub transfer_to: String,
}

impl Default for TelnyxSection {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            api_base: "https://api.telnyx.com/v2".into(),
            connection_id: String::new(),
            phone_number: String::new(),
            public_key_pem: String::new(),
            stream_url: String::new(),
            verify_signatures: true,
            signature_tolerance_secs: 300,
            codec: "PCMU".into(),
            answering_machine_detection: "detect".into(),
            hangup_on_machine: true,
            answer_inbound: true,
            max_concurrent_calls: 20,
            request_timeout_secs: 10,
            ring_timeout_secs: 30,
            retry_attempts: 3,
            retry_backoff_ms: 250,
            transfer_to: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSection {
    pub api_key: String,
    pub realtime_url: String,
    pub model: String,
    pub transcription_model: String,
    pub connect_timeout_secs: u64,
    pub silence_timeout_secs: u64,
}

impl Default for OpenAiSection {
    fn default() -> Self {
        Self {
            api_key: String::new(),
            realtime_url: "wss://api.openai.com/v1/realtime?model=gpt-realtime".into(),
            model: "gpt-realtime".into(),
            transcription_model: "whisper-1".into(),
            connect_timeout_secs: 5,
            silence_timeout_secs: 6,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveKitSection {
    pub server_url: String,
    pub api_key: String,
    pub api_secret: String,
    pub token_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsSection {
    pub protect: bool,
    pub dir: String,
    pub retention_days: u64,
}

impl Default for RecordingsSection {
    fn default() -> Self {
        Self {
            protect: true,
            dir: String::new(),
            retention_days: 0,
        }
    }
}

/// `[dialer]`: the campaign dialler (docs/campaigns.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerSection {
    /// Dial running campaigns from this appliance (several appliances on one MongoDB
    /// share campaigns through leases).
    pub enabled: bool,
    /// This appliance's name in campaign leases (empty: host name + process id).
    pub node: String,
    /// Calls kept free for inbound callers under `telnyx.max_concurrent_calls`.
    pub inbound_reserve: u64,
    /// An attempt the carrier said nothing about for this long is `unknown`.
    pub reconcile_after_secs: u64,
    pub lease_ttl_secs: u64,
    /// How often a running campaign's audience is read again for new contacts.
    pub refill_every_secs: u64,
    /// The 30-day abandon rate (abandoned / answered by a person) that pauses a campaign.
    pub abandon_pause_rate: f64,
    /// Failed dials in a row that pause a campaign.
    pub failure_pause_after: u32,
}

impl Default for DialerSection {
    fn default() -> Self {
        Self {
            enabled: true,
            node: String::new(),
            inbound_reserve: 2,
            reconcile_after_secs: 120,
            lease_ttl_secs: 15,
            refill_every_secs: 600,
            abandon_pause_rate: 0.025,
            failure_pause_after: 5,
        }
    }
}

/// `[cluster]`: this appliance among several on one MongoDB (docs/cluster.md); a
/// single appliance runs the same membership (its restart ends the calls a crash left).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This appliance's name (empty: the host name); unique per appliance.
    pub node: String,
    /// Where Telnyx and browsers reach this appliance (`https://node-a.example.com`).
    pub public_url: String,
    /// Seconds without a heartbeat after which an appliance is lost and its calls are
    /// ended (`node_lost`) by a surviving one.
    pub heartbeat_ttl_secs: u64,
    /// The internal listener the other appliances forward listen-in and takeover
    /// sockets to (`10.0.0.2:7070`, `unix:/run/agent5/internal.sock`; empty: none).
    /// Plain HTTP authenticated per request with `secret`: a private network only.
    pub internal_listen: String,
    /// How the other appliances reach `internal_listen` when it is a wildcard
    /// (`0.0.0.0:7070` is reached at `10.0.0.2:7070`); empty: `internal_listen`.
    pub internal_address: String,
    /// The secret every appliance shares for the internal hop (at least 32
    /// characters; `AGENT5_CLUSTER_SECRET` or `AGENT5_CLUSTER_SECRET_FILE`).
    pub secret: String,
    /// Recordings are copied into the store this often while the call goes on, so
    /// any appliance serves them and an appliance's loss costs at most this many
    /// seconds of audio (0: not copied; with `internal_listen` set, default 5).
    pub recording_interval_secs: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            node: String::new(),
            public_url: String::new(),
            heartbeat_ttl_secs: 15,
            internal_listen: String::new(),
            internal_address: String::new(),
            secret: String::new(),
            recording_interval_secs: 5,
        }
    }
}

/// `[console]`: the admin console is embedded in the binary; `dir` serves a directory
/// from disk instead (developing the console without rebuilding).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    pub dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevSection {
    pub websocket_echo: bool,
}
