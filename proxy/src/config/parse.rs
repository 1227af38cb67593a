//! Small value parsers for configuration: listen addresses, trusted proxies, CORS
//! origins and booleans written the ways people write them in env files.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::file::AcmeSection;
use super::{AcmeConfig, ConfigError, Problem};

/// Where a listener binds: a TCP address or a Unix socket path (`unix:/path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

pub fn listen_addr(key: &str, raw: &str) -> Result<ListenAddr, ConfigError> {
    let raw = raw.trim();
    if let Some(path) = raw.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(ConfigError::new(key, "unix: needs a socket path"));
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    raw.parse::<SocketAddr>().map(ListenAddr::Tcp).map_err(|_| {
        ConfigError::new(
            key,
            format!("{raw:?} is not IP:PORT (e.g. 127.0.0.1:3000, [::]:443) or unix:/path"),
        )
    })
}

pub fn listen_list(key: &str, raw: &[String]) -> Result<Vec<ListenAddr>, ConfigError> {
    let mut out: Vec<ListenAddr> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let addr = listen_addr(&format!("{key}[{i}]"), r)?;
        if out.contains(&addr) {
            return Err(ConfigError::new(
                format!("{key}[{i}]"),
                format!("{addr} is listed twice"),
            ));
        }
        out.push(addr);
    }
    Ok(out)
}

/// Rewrites the port of every TCP address (the `PORT` variable).
pub fn with_port(listen: &[String], port: u16) -> Result<Vec<String>, Problem> {
    if listen.is_empty() {
        return Ok(vec![format!("127.0.0.1:{port}")]);
    }
    listen
        .iter()
        .map(|raw| match listen_addr("PORT", raw) {
            Ok(ListenAddr::Tcp(mut a)) => {
                a.set_port(port);
                Ok(a.to_string())
            }
            Ok(ListenAddr::Unix(_)) => Ok(raw.clone()),
            Err(e) => Err(Problem(e.problem)),
        })
        .collect()
}

/// A level (`info`) or comma-separated `target=level` directives, as `RUST_LOG` takes.
pub fn log_filter(v: &str) -> bool {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let level = |l: &str| LEVELS.contains(&l.trim().to_ascii_lowercase().as_str());
    let target = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.'))
    };
    !v.trim().is_empty()
        && v.split(',').all(|part| match part.split_once('=') {
            Some((t, l)) => target(t.trim()) && level(l),
            None => level(part),
        })
}

pub fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// Which `X-Forwarded-For` entries to believe (the seed's `TRUST_PROXY`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustProxy {
    /// The socket peer is the client.
    #[default]
    None,
    /// Trust this many proxy hops in front of us.
    Hops(u8),
    /// Trust peers (and forwarded hops) inside these networks.
    Networks(Vec<IpNet>),
}

impl TrustProxy {
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let raw = raw.trim();
        if raw.is_empty() || boolean(raw) == Some(false) {
            return Ok(Self::None);
        }
        if boolean(raw) == Some(true) {
            return Ok(Self::Hops(1));
        }
        if let Ok(hops) = raw.parse::<u8>() {
            return Ok(if hops == 0 {
                Self::None
            } else {
                Self::Hops(hops)
            });
        }
        networks(raw.split(','))
            .map(Self::Networks)
            .map_err(|e| Problem(format!("{e}, or a hop count")))
    }
}

/// IPs, CIDRs, `loopback` and `private` as networks.
pub fn networks<'a>(parts: impl IntoIterator<Item = &'a str>) -> Result<Vec<IpNet>, Problem> {
    let mut nets = Vec::new();
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let net = match part {
            "loopback" => vec!["127.0.0.0/8", "::1/128"],
            "private" => vec!["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
            other => vec![other],
        };
        for n in net {
            let parsed = n
                .parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| Problem(format!("{n:?} is not an IP, a CIDR, loopback or private")))?;
            nets.push(parsed);
        }
    }
    Ok(nets)
}

/// A web origin, `scheme://host[:port]` (http or https, no path), lower case.
pub fn origin(item: &str) -> Result<String, Problem> {
    let origin = item.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| Problem(format!("{item:?} must start with https:// or http://")))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(Problem(format!(
            "{item:?} must be scheme://host[:port] with no path"
        )));
    }
    Ok(origin)
}

/// The CORS allow-list (`CORS_ORIGIN`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsOrigins {
    /// No cross-origin access: preflights are refused.
    #[default]
    None,
    /// `*`: any origin, never with credentials.
    Any,
    /// Exact origins, echoed back with credentials allowed.
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn parse(raw: &[String]) -> Result<Self, Problem> {
        let items: Vec<&str> = raw
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Self::None);
        }
        if items.contains(&"*") {
            if items.len() > 1 {
                return Err(Problem(
                    "\"*\" cannot be combined with other origins".to_owned(),
                ));
            }
            return Ok(Self::Any);
        }
        let out = items.into_iter().map(origin).collect::<Result<_, _>>()?;
        Ok(Self::List(out))
    }

    /// The value of `Access-Control-Allow-Origin` for a request from `origin`, if allowed.
    pub fn allow(&self, origin: &str) -> Option<AllowedOrigin> {
        match self {
            Self::None => None,
            Self::Any => Some(AllowedOrigin::Any),
            Self::List(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| AllowedOrigin::Exact(origin.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigin {
    Any,
    Exact(String),
}

/// `[tls.acme]`: `None` when no domain is set.
pub fn acme(
    section: &AcmeSection,
    data_dir: &Path,
    has_plaintext_listener: bool,
) -> Result<Option<AcmeConfig>, ConfigError> {
    if section.domains.is_empty() {
        return Ok(None);
    }
    let mut domains = Vec::with_capacity(section.domains.len());
    for (i, raw) in section.domains.iter().enumerate() {
        let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let key = format!("tls.acme.domains[{i}]");
        if d.starts_with("*.") {
            return Err(ConfigError::new(
                key,
                "wildcard names need DNS-01; HTTP-01 can only prove single names",
            ));
        }
        if !dns_name(&d) {
            return Err(ConfigError::new(key, format!("{raw:?} is not a DNS name")));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if !has_plaintext_listener {
        return Err(ConfigError::new(
            "tls.acme.domains",
            "HTTP-01 challenges are answered on port 80: set tls.redirect_listen (or server.listen)",
        ));
    }
    for (i, c) in section.contact.iter().enumerate() {
        if !c.starts_with("mailto:") || c.len() < 10 {
            return Err(ConfigError::new(
                format!("tls.acme.contact[{i}]"),
                "a contact is a mailto: URI, e.g. mailto:ops@example.com",
            ));
        }
    }
    if !section.directory_url.starts_with("https://") {
        return Err(ConfigError::new(
            "tls.acme.directory_url",
            "the ACME directory must be an https:// URL",
        ));
    }
    let positive = |key: &str, v: u64| {
        if v == 0 {
            Err(ConfigError::new(key, "must be greater than 0"))
        } else {
            Ok(v)
        }
    };
    let renew_days = positive("tls.acme.renew_before_days", section.renew_before_days)?;
    let check = positive("tls.acme.check_interval_secs", section.check_interval_secs)?;
    let retry = positive("tls.acme.retry_secs", section.retry_secs)?;
    let ca_bundle =
        (!section.ca_bundle.trim().is_empty()).then(|| PathBuf::from(&section.ca_bundle));
    Ok(Some(AcmeConfig {
        domains,
        contact: section.contact.clone(),
        directory_url: section.directory_url.clone(),
        ca_bundle,
        renew_before: Duration::from_secs(renew_days * 86_400),
        check_interval: Duration::from_secs(check),
        retry: Duration::from_secs(retry),
        dir: data_dir.join("acme"),
    }))
}

/// A host name of letters, digits and hyphens in dot-separated labels.
fn dns_name(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
