//! `agent5 doctor`: what an operator checks on a box before calling support. Each check
//! prints one row (`ok`, `warn` or `FAIL` with a detail); any FAIL makes the exit code 1.

use std::time::Duration;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub level: Level,
    pub detail: String,
}

fn check(name: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        level,
        detail: detail.into(),
    }
}

/// A directory the service must be able to write: created if missing, probed with a file.
fn writable(name: &str, dir: &std::path::Path) -> Check {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return check(name, Level::Fail, format!("{}: {e}", dir.display()));
    }
    let probe = dir.join(".agent5-doctor");
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            check(name, Level::Ok, format!("{} is writable", dir.display()))
        }
        Err(e) => check(name, Level::Fail, format!("{}: {e}", dir.display())),
    }
}

/// Runs every check against `config`.
pub fn run(config: &Config) -> Vec<Check> {
    let mut out = vec![check(
        "config",
        Level::Ok,
        config.source.as_ref().map_or_else(
            || "built-in defaults".to_owned(),
            |p| p.display().to_string(),
        ),
    )];
    let (store, people, cluster) = store_check(config);
    out.push(store);
    out.extend(cluster);
    out.push(accounts_check(config, people));
    certificate_checks(config, &mut out);
    out.push(clock_check(config));
    out.push(writable("data directory", &config.data_dir));
    out.push(writable("recordings", &config.calls.recordings_dir));
    out.push(open_files_check(config));
    integration_checks(config, &mut out);
    out
}

/// The store: opened and pinged like at start-up; and how many active people it has
/// (when it answered).
fn store_check(config: &Config) -> (Check, Option<usize>, Option<Check>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Err(e) => (check("store", Level::Fail, e.to_string()), None, None),
        Ok(rt) => match crate::open_store_in(&rt, config) {
            Err(e) => (check("store", Level::Fail, e.to_string()), None, None),
            Ok(store) => {
                let pinged = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), store.ping()).await
                });
                let backend = store.backend();
                match pinged {
                    Ok(Ok(())) => {
                        let people = rt
                            .block_on(store.list_users())
                            .ok()
                            .map(|users| users.iter().filter(|u| u.active).count());
                        let cluster = rt
                            .block_on(store.list_nodes())
                            .ok()
                            .map(|n| cluster_check(&n));
                        (
                            check("store", Level::Ok, format!("{backend} answers")),
                            people,
                            cluster,
                        )
                    }
                    Ok(Err(e)) => (
                        check("store", Level::Fail, format!("{backend}: {e}")),
                        None,
                        None,
                    ),
                    Err(_) => (
                        check(
                            "store",
                            Level::Fail,
                            format!("{backend} did not answer within 5 s"),
                        ),
                        None,
                        None,
                    ),
                }
            }
        },
    }
}

/// The appliances registered on the store: each life with its state; a warning while
/// one is silent (its calls wait for a surviving appliance to end them).
fn cluster_check(nodes: &[agent5_api::model::NodeStatus]) -> Check {
    if nodes.is_empty() {
        return check(
            "cluster",
            Level::Ok,
            "no appliance is running on this store",
        );
    }
    let rows: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{} ({}, {}, last heartbeat {:.1} s ago)",
                n.node.id,
                &n.node.epoch[..n.node.epoch.len().min(8)],
                crate::edge::probes::node_state(n),
                n.silent_ms as f64 / 1000.0
            )
        })
        .collect();
    let silent = nodes.iter().any(|n| !n.alive && n.lost_at.is_none());
    let level = if silent { Level::Warn } else { Level::Ok };
    check("cluster", level, rows.join("; "))
}

/// Someone can get in: an active person, or the shared token.
fn accounts_check(config: &Config, people: Option<usize>) -> Check {
    let shared = !config.auth_tokens.is_empty();
    match (people, shared) {
        (Some(0), false) => check(
            "accounts",
            Level::Fail,
            "no user and no AUTH_TOKEN: nobody can sign in (agent5 user add EMAIL --role admin)",
        ),
        (Some(n), true) => check(
            "accounts",
            Level::Ok,
            format!("{n} active user(s); the shared AUTH_TOKEN is also accepted"),
        ),
        (Some(n), false) => check("accounts", Level::Ok, format!("{n} active user(s)")),
        (None, _) => check(
            "accounts",
            Level::Warn,
            "not checked: the store did not answer",
        ),
    }
}

/// Certificates: valid pairs, and time left; ACME's state.
fn certificate_checks(config: &Config, out: &mut Vec<Check>) {
    match &config.tls {
        None => out.push(check(
            "tls",
            Level::Warn,
            "no [tls] section: plaintext only (fine behind another TLS terminator)",
        )),
        Some(tls) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            if let Some(acme) = &tls.acme {
                let paths = acme.cert_paths();
                out.push(if !paths.cert.exists() {
                    check(
                        "acme",
                        Level::Warn,
                        format!(
                            "{}: nothing issued yet (the first start asks {})",
                            acme.domains.join(", "),
                            acme.directory_url
                        ),
                    )
                } else if let Some(why) = crate::ops::acme::renewal_reason(acme, now) {
                    check(
                        "acme",
                        Level::Warn,
                        format!(
                            "{}: due for issuance ({why}); see the log for ACME attempts",
                            acme.domains.join(", ")
                        ),
                    )
                } else {
                    check(
                        "acme",
                        Level::Ok,
                        format!(
                            "{}: issued by {}, renewed automatically",
                            acme.domains.join(", "),
                            acme.directory_url
                        ),
                    )
                });
            }
            for paths in &tls.certificates {
                if tls
                    .acme
                    .as_ref()
                    .is_some_and(|a| a.cert_paths().cert == paths.cert)
                    && !paths.cert.exists()
                {
                    continue;
                }
                let name = format!("certificate {}", paths.cert.display());
                out.push(match crate::tls::load_pair(paths) {
                    Err(e) => check(name, Level::Fail, e.to_string()),
                    Ok(cert) => {
                        let days = (cert.not_after - now) / 86_400;
                        let names = cert.names.join(", ");
                        if cert.not_after <= now {
                            check(name, Level::Fail, format!("{names}: expired"))
                        } else if days < 14 {
                            check(
                                name,
                                Level::Warn,
                                format!("{names}: expires in {days} days"),
                            )
                        } else {
                            check(
                                name,
                                Level::Ok,
                                format!("{names}: valid for {days} more days"),
                            )
                        }
                    }
                });
            }
        }
    }
}

/// The clock: webhook signatures allow only a few minutes of skew.
fn clock_check(config: &Config) -> Check {
    let synced = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let tolerance = config.telnyx.signature_tolerance_secs;
    match synced.as_deref() {
        Some("yes") => check(
            "clock",
            Level::Ok,
            format!("NTP synchronised (webhooks allow ±{tolerance} s)"),
        ),
        Some(_) => check(
            "clock",
            Level::Warn,
            format!("not NTP synchronised: webhooks are refused beyond ±{tolerance} s of skew"),
        ),
        None => check(
            "clock",
            Level::Warn,
            format!("synchronisation unknown (no timedatectl); webhooks allow ±{tolerance} s"),
        ),
    }
}

/// File descriptors: each call holds two sockets and a file, plus listeners and the store.
fn open_files_check(config: &Config) -> Check {
    let need = config.telnyx.max_concurrent_calls * 4 + 256;
    match crate::config::open_files_limit() {
        Some(have) if have >= need => check(
            "open files",
            Level::Ok,
            format!("limit {have} (need about {need})"),
        ),
        Some(have) => check(
            "open files",
            Level::Warn,
            format!(
                "limit {have}, about {need} needed for {} calls (LimitNOFILE)",
                config.telnyx.max_concurrent_calls
            ),
        ),
        None => check("open files", Level::Warn, "limit unknown"),
    }
}

/// Which integrations are configured, and the settings that leave the appliance open.
fn integration_checks(config: &Config, out: &mut Vec<Check>) {
    for (name, missing) in config.integrations.status() {
        out.push(if missing.is_empty() {
            check(name, Level::Ok, "configured")
        } else {
            check(
                name,
                Level::Warn,
                format!("not configured (missing {})", missing.join(", ")),
            )
        });
    }
    if !config.integrations.telnyx_verify_signatures {
        out.push(check(
            "webhook signatures",
            Level::Fail,
            "telnyx.verify_signatures = false: anyone can post Telnyx events",
        ));
    }
}

/// Prints the table; returns whether nothing failed.
pub fn print(checks: &[Check]) -> bool {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        println!("{:<width$}  {:<4}  {}", c.name, c.level.label(), c.detail);
    }
    !checks.iter().any(|c| c.level == Level::Fail)
}
