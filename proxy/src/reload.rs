//! Reloading without a restart: SIGHUP (`systemctl reload`) and certificate files
//! that changed swap the configuration that can change live and the certificates;
//! ACME installs renewed certificates the same way.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Config};
use crate::edge::Shared;
use crate::filters::Live;
use crate::ops::acme;
use crate::tls::CertStore;

/// SIGHUP (`systemctl reload`): reloads the certificates and the parts of the
/// configuration that can change live (tokens, CORS origins, rate limits) without
/// touching open connections. A configuration or certificate that does not load leaves
/// the running one in place (logged, and counted in `agent5_tls_cert_loads_total`).
///
/// Called before the process reports ready: the SIGHUP handler is installed and the
/// certificate files are stamped here, so a signal or a renewal right after readiness
/// is not lost.
pub(crate) fn spawn_reloader(
    shared: Arc<Shared>,
    certs: Option<CertStore>,
    work: &tokio::runtime::Handle,
) {
    let hup = {
        let _runtime = work.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    };
    let Ok(mut hup) = hup else {
        tracing::warn!("SIGHUP cannot be watched: reload is unavailable");
        return;
    };
    // Certificate files are also watched (their contents), so a renewal by another
    // tool is picked up without a signal.
    let mut seen = cert_stamps(&shared);
    work.spawn(async move {
        let watch = shared.config.tls.as_ref().and_then(|t| t.watch_interval);
        let mut tick = tokio::time::interval(watch.unwrap_or(Duration::from_secs(3600)));
        tick.tick().await;
        loop {
            tokio::select! {
                signal = hup.recv() => {
                    if signal.is_none() {
                        return;
                    }
                    reload(&shared, certs.as_ref());
                    seen = cert_stamps(&shared);
                }
                _ = tick.tick(), if watch.is_some() => {
                    let now = cert_stamps(&shared);
                    if now != seen {
                        tracing::info!("certificate files changed; reloading");
                        reload(&shared, certs.as_ref());
                        seen = now;
                    }
                }
            }
        }
    });
}

/// A fingerprint of every configured certificate and key file's contents (a few KiB
/// each): unlike modification times, it cannot miss a same-size rewrite within one
/// timestamp tick.
fn cert_stamps(shared: &Shared) -> Vec<Option<u64>> {
    use std::hash::{Hash, Hasher};
    shared
        .config
        .tls
        .iter()
        .flat_map(|t| t.certificates.iter())
        .flat_map(|p| [&p.cert, &p.key])
        .map(|f| {
            std::fs::read(f).ok().map(|bytes| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            })
        })
        .collect()
}

fn reload(shared: &Shared, certs: Option<&CertStore>) {
    let fresh = match &shared.config.source {
        Some(path) => {
            let mut env = config::Layered::new(config::ProcessEnv);
            if let Some(dotenv) = path.parent().map(|d| d.join(".env")) {
                match env.with_dotenv(&dotenv) {
                    Ok(e) => env = e,
                    Err(e) => {
                        tracing::warn!(error = %e, "reload: .env unreadable; keeping the running configuration");
                        return;
                    }
                }
            }
            match Config::load(Some(path), &config::Overrides::default(), &env) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "reload: configuration invalid; keeping the running configuration");
                    shared
                        .metrics
                        .tls_cert_reloads
                        .with_label_values(&["error"])
                        .inc();
                    return;
                }
            }
        }
        None => None,
    };
    let running = fresh.as_ref().unwrap_or(&shared.config);
    if let Some(fresh) = &fresh {
        shared.live.store(Arc::new(Live::build(fresh)));
    }
    if let (Some(store), Some(tls)) = (certs, running.tls.as_ref()) {
        match store.reload(&tls.certificates) {
            Ok(()) => {
                shared
                    .metrics
                    .tls_cert_reloads
                    .with_label_values(&["ok"])
                    .inc();
                shared.metrics.record_certs(&store.current());
            }
            Err(e) => {
                shared
                    .metrics
                    .tls_cert_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::warn!(error = %e, "reload: certificates invalid; keeping the running ones");
                return;
            }
        }
    }
    tracing::info!(
        tokens = running.auth_tokens.len(),
        certificates = running.tls.as_ref().map_or(0, |t| t.certificates.len()),
        "configuration reloaded (listeners and storage change only on restart)"
    );
}

/// Starts the ACME renewal loop when `[tls.acme]` is configured.
pub(crate) fn spawn_acme(
    shared: &Arc<Shared>,
    certs: Option<&CertStore>,
    work: &tokio::runtime::Handle,
) {
    let (Some(acme), Some(store)) = (
        shared.config.tls.as_ref().and_then(|t| t.acme.clone()),
        certs.cloned(),
    ) else {
        return;
    };
    let installer = Arc::clone(shared);
    let install = Box::new(move || reload_certs(&installer, &store));
    work.spawn(acme::run(acme, shared.metrics.acme_orders.clone(), install));
}

/// Reloads the certificate table from the configured files (ACME installs this way).
fn reload_certs(shared: &Shared, store: &CertStore) -> Result<(), String> {
    let Some(tls) = &shared.config.tls else {
        return Ok(());
    };
    let result = store.reload(&tls.certificates);
    let label = if result.is_ok() { "ok" } else { "error" };
    shared
        .metrics
        .tls_cert_reloads
        .with_label_values(&[label])
        .inc();
    shared.metrics.record_certs(&store.current());
    result.map_err(|e| e.to_string())
}
