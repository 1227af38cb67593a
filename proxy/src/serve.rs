//! Starting the appliance: the API and the bridge, the certificates, the listeners
//! (bound, or taken over from the running process on an upgrade), the Pingora
//! services, systemd readiness, and the background upkeep.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service as ListeningService;

use crate::config::{Config, ListenAddr};
use crate::edge::guarded::Guarded;
use crate::edge::tls_accept::TlsAccept;
use crate::edge::ConnFilter;
use crate::edge::{Edge, Role, Shared};
use crate::filters::conn_limit::ConnLimits;
use crate::filters::Live;
use crate::lifecycle::{Lifecycle, SignalWatch, Signals};
use crate::listeners::{self, bind, Bound, Prebound};
use crate::ops::{acme, systemd, upgrade};
use crate::tls::{CertStore, CertTable};

use crate::reload::{spawn_acme, spawn_reloader};
use crate::{metrics, RunError, StartMode};

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn start(config: Config, mode: StartMode) -> Result<(), RunError> {
    // Everything the appliance writes (database, WAL, recordings, keys, sockets) is
    // its own: owner-only, whatever umask it was started with (systemd sets 0077,
    // a shell or a container usually 0022).
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(&config.data_dir).map_err(|source| RunError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    announce_config(&config);
    let metrics = metrics::Metrics::new()?;
    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions {
        echo: config.websocket_echo,
        idle_timeout: config.idle_timeout,
        ..agent5_bridge::BridgeOptions::default()
    });
    let BuiltApi {
        router: api,
        store,
        accounts,
        work,
        membership,
    } = build_api(&config, &metrics, &bridge)?;
    let certs = load_certs(&config, &metrics)?;
    // Everything that can fail has been checked: only now may a successor ask the
    // running process for its sockets (which makes that process start draining).
    let bound = bind_listeners(&config, mode)?;
    let lifecycle = Arc::new(Lifecycle::default());
    let shared = Arc::new(Shared {
        live: ArcSwap::from_pointee(Live::build(&config)),
        api,
        store,
        accounts,
        bridge: bridge.clone(),
        identity: Arc::clone(membership.identity()),
        metrics,
        lifecycle: Arc::clone(&lifecycle),
        certs: certs.clone(),
        conns: Arc::new(ConnLimits::new(
            config.connections.per_client,
            config.connections.total,
            config.connections.exempt.clone(),
        )),
        config,
    });
    let upgrade_sock = bound.upgrade_sock.clone();
    let threads = match shared.config.threads {
        0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        n => n,
    };
    let cfg = &shared.config;
    let server_conf = ServerConf {
        threads,
        work_stealing: cfg.work_stealing,
        // Our drain watcher ends the process; Pingora's timers are only a backstop.
        grace_period_seconds: Some(cfg.grace_period.as_secs() + 2),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: upgrade_sock.display().to_string(),
        pid_file: upgrade::pid_file(&cfg.data_dir).display().to_string(),
        ..ServerConf::default()
    };
    // Pingora's own `--upgrade` receiving stays off: the sockets were taken above.
    let mut server = Server::new_with_opt_and_conf(Some(Opt::default()), server_conf);
    server.bootstrap();
    let phases = server.watch_execution_phase();

    let announced = add_services(&mut server, &shared, bound, certs.as_ref(), threads)?;
    server.add_service(background_service(
        "housekeeping",
        Housekeeping {
            shared: Arc::clone(&shared),
        },
    ));

    spawn_reloader(Arc::clone(&shared), certs.clone(), &work);
    let signals = {
        let _runtime = work.enter();
        Signals::install()
    };
    lifecycle.set_listening();
    for (addr, role) in &announced {
        tracing::info!(addr = %addr, role = *role, "listening");
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listeners = announced.len(),
        pid = std::process::id(),
        upgrade = mode == StartMode::Upgrade,
        "agent5 ready"
    );
    notify_systemd(&shared, &work, mode);
    let pid_file = upgrade::pid_file(&shared.config.data_dir);
    if let Err(e) = upgrade::write_pid_file(&pid_file) {
        tracing::warn!(path = %pid_file.display(), error = %e, "cannot write the pid file");
    }
    spawn_acme(&shared, certs.as_ref(), &work);

    server.run(RunArgs {
        shutdown_signal: Box::new(SignalWatch {
            lifecycle,
            bridge,
            grace: shared.config.grace_period,
            upgrade_sock,
            pid_file,
            phases,
            signals: std::sync::Mutex::new(Some(signals)),
        }),
    });
    leave_cluster(&work, &membership);
    tracing::info!("agent5 stopped");
    Ok(())
}

/// Every call of this life has ended (or the grace period ran out): leave the cluster
/// (bounded), so nobody waits out the heartbeat to end what is already over.
fn leave_cluster(work: &tokio::runtime::Handle, membership: &agent5_api::cluster::Membership) {
    let left = work
        .block_on(async { tokio::time::timeout(Duration::from_secs(2), membership.leave()).await });
    if left.is_err() {
        tracing::warn!("leaving the cluster timed out");
    }
}

/// The API router with its store, telephony and LiveKit, the accounts the edge
/// authenticates with, and the runtime its background work (webhooks, retention) runs
/// on.
struct BuiltApi {
    router: axum::Router,
    store: agent5_api::store::SharedStore,
    accounts: Arc<agent5_api::accounts::Accounts>,
    work: tokio::runtime::Handle,
    membership: Arc<agent5_api::cluster::Membership>,
}

fn build_api(
    config: &Config,
    metrics: &metrics::Metrics,
    bridge: &agent5_bridge::Bridge,
) -> Result<BuiltApi, RunError> {
    let (store, work) = open_store(config)?;
    let api_metrics = agent5_api::metrics::ApiMetrics::new();
    api_metrics.register(metrics.registry())?;
    bridge.metrics().register(metrics.registry())?;
    let accounts = Arc::new(agent5_api::accounts::Accounts::new(
        store.clone(),
        config.accounts.sessions,
    ));
    accounts.register(metrics.registry())?;
    let state = agent5_api::AppState::new(bridge.clone(), store.clone())
        .with_accounts(Arc::clone(&accounts))
        .with_region(config.default_region)
        .with_import_max_rows(config.limits.upload_max_rows)
        .with_recordings_dir(config.calls.recordings_dir.clone())
        .with_telephony(telnyx_settings(config), api_metrics, &work)?;
    let state = if config.dialer.enabled {
        let dialer_metrics = agent5_api::dialer::DialerMetrics::new();
        dialer_metrics.register(metrics.registry())?;
        state.with_dialer(dialer_settings(config), dialer_metrics, &work)
    } else {
        state
    };
    let state = match (
        &config.integrations.livekit_server_url,
        &config.integrations.livekit_api_key,
        &config.integrations.livekit_api_secret,
    ) {
        (Some(url), Some(key), Some(secret)) => {
            state.with_livekit(agent5_api::integrations::livekit::LiveKit::new(
                url,
                key,
                secret.expose(),
                config.livekit_token_ttl,
            )?)
        }
        _ => state,
    };
    let copies = recording_copies(config, &store, metrics)?;
    start_calls(config, bridge, &state, copies.clone(), &work);
    if let Some(copies) = copies {
        work.spawn(copies.run(bridge.clone()));
    }
    let cluster_metrics = agent5_api::cluster::ClusterMetrics::new();
    cluster_metrics.register(metrics.registry())?;
    let membership = Arc::new(agent5_api::cluster::Membership::new(
        store.clone(),
        Arc::clone(state.telephony()),
        agent5_api::cluster::ClusterSettings {
            heartbeat_ttl: Duration::from_secs(config.cluster.heartbeat_ttl_secs),
            ..agent5_api::cluster::ClusterSettings::default()
        },
        cluster_metrics,
    ));
    // Joined before the appliance says it is ready (bounded: a MongoDB that is not up
    // yet is joined by the loop as soon as it answers).
    let joined = work
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), membership.join()).await });
    if let Ok(Err(e)) | Err(e) =
        joined.map_err(|_| agent5_api::store::StoreError::Unavailable("timed out".into()))
    {
        tracing::warn!(error = %e, "joining the cluster failed; retrying in the background");
    }
    work.spawn(Arc::clone(&membership).run());
    let directory = Arc::new(agent5_api::cluster::Directory::new(
        store.clone(),
        Arc::clone(membership.identity()),
        Duration::from_secs(1),
    ));
    directory.register(metrics.registry())?;
    work.spawn(Arc::clone(&directory).run());
    let state = state.with_directory(directory);
    Ok(BuiltApi {
        router: agent5_api::router(state),
        store,
        accounts,
        work,
        membership,
    })
}

/// The certificate table (after preparing ACME's files), when TLS is configured.
fn load_certs(config: &Config, metrics: &metrics::Metrics) -> Result<Option<CertStore>, RunError> {
    Ok(match &config.tls {
        Some(tls) => {
            if let Some(acme) = &tls.acme {
                acme::prepare(acme).map_err(RunError::Acme)?;
            }
            let table = CertTable::load(&tls.certificates)?;
            metrics.tls_cert_reloads.with_label_values(&["ok"]).inc();
            metrics.record_certs(&table);
            Some(CertStore::new(table))
        }
        None => None,
    })
}

/// Every listening socket, bound or taken over from the running process.
struct BoundListeners {
    plain: Vec<Bound>,
    https: Vec<Bound>,
    redirect: Vec<Bound>,
    metrics: Vec<Bound>,
    internal: Vec<Bound>,
    upgrade_sock: std::path::PathBuf,
}

fn bind_listeners(config: &Config, mode: StartMode) -> Result<BoundListeners, RunError> {
    let upgrade_sock = upgrade::socket_path(&config.data_dir);
    let mut inherited = match mode {
        StartMode::Fresh => std::collections::HashMap::new(),
        StartMode::Upgrade => {
            tracing::info!(socket = %upgrade_sock.display(), "waiting for the running process's listeners");
            let fds = upgrade::receive_listeners(&upgrade_sock).map_err(RunError::Upgrade)?;
            tracing::info!(sockets = fds.len(), "listeners received");
            fds
        }
    };
    let mut bind_all = |addrs: &[ListenAddr], role: &'static str| -> Result<Vec<Bound>, RunError> {
        addrs
            .iter()
            .map(|a| match inherited.remove(&listeners::key(a)) {
                Some(fd) => Ok(Bound::inherited(a.clone(), fd)),
                None => bind(a).map_err(|source| RunError::Listen {
                    addr: a.to_string(),
                    role,
                    source,
                }),
            })
            .collect()
    };
    let plain = bind_all(&config.listen, "http")?;
    let (https, redirect) = match &config.tls {
        Some(tls) => (
            bind_all(&tls.listen, "https")?,
            bind_all(&tls.redirect_listen, "redirect")?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let metrics_listener = bind_all(config.metrics_listen.as_slice(), "metrics")?;
    let internal = match &config.internal {
        Some(hop) => bind_all(std::slice::from_ref(&hop.listen), "internal")?,
        None => Vec::new(),
    };
    for key in inherited.keys() {
        tracing::warn!(addr = %key, "inherited listener no longer configured; closed");
    }
    drop(inherited);

    Ok(BoundListeners {
        plain,
        https,
        redirect,
        metrics: metrics_listener,
        internal,
        upgrade_sock,
    })
}

/// The main, redirect and metrics services on their sockets; what listens where.
fn add_services(
    server: &mut Server,
    shared: &Arc<Shared>,
    bound: BoundListeners,
    certs: Option<&CertStore>,
    threads: usize,
) -> Result<Vec<(String, &'static str)>, RunError> {
    let cfg = &shared.config;
    let BoundListeners {
        plain,
        https,
        redirect,
        metrics: metrics_listener,
        internal,
        ..
    } = bound;
    let mut announced: Vec<(String, &'static str)> = Vec::new();
    // HTTPS listeners are plain TCP to Pingora: the edge does the handshake itself
    // (`edge/tls_accept.rs`: server cipher order, a bounded handshake).
    let tls_ports: std::collections::HashSet<u16> = https
        .iter()
        .filter_map(|b| match b.addr {
            ListenAddr::Tcp(a) => Some(a.port()),
            ListenAddr::Unix(_) => None,
        })
        .collect();
    let tls = match certs {
        Some(store) if !tls_ports.is_empty() => Some(
            TlsAccept::new(store.clone(), tls_ports, cfg.header_timeout)
                .map_err(|e| RunError::Pingora(e.to_string()))?,
        ),
        _ => None,
    };
    let mut main = ListeningService::new(
        "agent5 edge".to_owned(),
        Guarded::new(Edge::new(Arc::clone(shared), Role::Main), tls),
    );
    main.threads = Some(threads);
    main.set_connection_filter(Arc::new(ConnFilter(Arc::clone(shared))));
    for b in &plain {
        add_plain(&mut main, b);
        announced.push((b.addr.to_string(), "http"));
    }
    for b in &https {
        add_plain(&mut main, b);
        announced.push((b.addr.to_string(), "https"));
    }
    let https_port = https.iter().find_map(|b| match b.addr {
        ListenAddr::Tcp(a) => Some(a.port()),
        ListenAddr::Unix(_) => None,
    });
    let mut main_bound = plain;
    main_bound.extend(https);
    server.add_service(Prebound::new(main, main_bound));

    if !redirect.is_empty() {
        let https_port = https_port.unwrap_or(443);
        let mut svc = ListeningService::new(
            "agent5 redirect".to_owned(),
            Guarded::new(
                Edge::new(Arc::clone(shared), Role::Redirect { https_port }),
                None,
            ),
        );
        svc.threads = Some(1);
        // Public like the main listeners: the same connection and head caps.
        svc.set_connection_filter(Arc::new(ConnFilter(Arc::clone(shared))));
        for b in &redirect {
            add_plain(&mut svc, b);
            announced.push((b.addr.to_string(), "redirect"));
        }
        server.add_service(Prebound::new(svc, redirect));
    }
    if !metrics_listener.is_empty() {
        let mut svc = ListeningService::new(
            "agent5 metrics".to_owned(),
            Guarded::new(Edge::new(Arc::clone(shared), Role::Metrics), None),
        );
        svc.threads = Some(1);
        for b in &metrics_listener {
            add_plain(&mut svc, b);
            announced.push((b.addr.to_string(), "metrics"));
        }
        server.add_service(Prebound::new(svc, metrics_listener));
    }
    if !internal.is_empty() {
        // Forwarded listen-in and operator sockets run here for their whole call.
        let mut svc = ListeningService::new(
            "agent5 internal".to_owned(),
            Guarded::new(Edge::new(Arc::clone(shared), Role::Internal), None),
        );
        svc.threads = Some(threads);
        for b in &internal {
            add_plain(&mut svc, b);
            announced.push((b.addr.to_string(), "internal"));
        }
        server.add_service(Prebound::new(svc, internal));
    }
    Ok(announced)
}

/// `Type=notify`: READY=1 once the listeners are bound and the store answers (or after
/// 30 s of trying, with a status saying so), then watchdog pings from the work runtime.
fn notify_systemd(shared: &Arc<Shared>, work: &tokio::runtime::Handle, mode: StartMode) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let store = Arc::clone(&shared.store);
    let reachable = work.block_on(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if matches!(
                tokio::time::timeout(Duration::from_secs(2), store.ping()).await,
                Ok(Ok(()))
            ) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let status = if reachable {
        "STATUS=serving"
    } else {
        "STATUS=serving; the store does not answer"
    };
    // A successor becomes the unit's main process (the unit says NotifyAccess=all).
    let main_pid = match mode {
        StartMode::Upgrade => format!("MAINPID={}\n", std::process::id()),
        StartMode::Fresh => String::new(),
    };
    systemd::notify(&format!("{main_pid}READY=1\n{status}"));
    if let Some(every) = systemd::watchdog_interval() {
        work.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                systemd::notify("WATCHDOG=1");
            }
        });
    }
}

/// Opens the store on a runtime of its own that lives as long as the process: the
/// MongoDB driver runs its server monitors on the runtime that created the client.
/// Opens the store on a runtime of its own that also runs the background work (the
/// webhook pipeline); returns the store and that runtime's handle.
fn open_store(
    config: &Config,
) -> Result<(agent5_api::store::SharedStore, tokio::runtime::Handle), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("agent5-work")
        .enable_all()
        .build()
        .map_err(|e| RunError::Store(agent5_api::store::StoreError::Unavailable(e.to_string())))?;
    let opened = open_store_in(&runtime, config)?;
    let handle = runtime.handle().clone();
    // The runtime must outlive every client of the store: keep it for the process.
    std::mem::forget(runtime);
    Ok((opened, handle))
}

/// Installs the live-call bridge (agent, recordings, hooks), repairs recordings left
/// unfinished by a crash, and starts the daily retention sweep.
/// Several appliances with an internal hop: recordings copied into the store every
/// `[cluster] recording_interval_secs` (docs/cluster.md).
fn recording_copies(
    config: &Config,
    store: &agent5_api::store::SharedStore,
    metrics: &metrics::Metrics,
) -> Result<Option<Arc<agent5_api::cluster::recordings::RecordingCopies>>, RunError> {
    use agent5_api::cluster::recordings::{clear_copies, CopyMetrics, RecordingCopies};
    let dir = &config.calls.recordings_dir;
    clear_copies(dir);
    if config.internal.is_none() || config.cluster.recording_interval_secs == 0 {
        return Ok(None);
    }
    let copy_metrics = CopyMetrics::new();
    copy_metrics.register(metrics.registry())?;
    Ok(Some(Arc::new(RecordingCopies::new(
        store.clone(),
        dir.clone(),
        Duration::from_secs(config.cluster.recording_interval_secs),
        copy_metrics,
    ))))
}

fn start_calls(
    config: &Config,
    bridge: &agent5_bridge::Bridge,
    state: &agent5_api::AppState,
    copies: Option<Arc<agent5_api::cluster::recordings::RecordingCopies>>,
    work: &tokio::runtime::Handle,
) {
    let c = &config.calls;
    // From this thread, at the service's priority (threads inherit their creator's).
    if !agent5_bridge::recording::start_writer() {
        tracing::error!("the recordings' writer thread did not start: calls are not recorded");
    }
    let repaired = agent5_bridge::recording::repair_dir(&c.recordings_dir);
    if repaired > 0 {
        tracing::warn!(repaired, dir = %c.recordings_dir.display(), "recordings repaired at start-up");
    }
    let agent = config.integrations.openai_api_key.as_ref().map(|key| {
        agent5_bridge::agent::client::AgentConfig {
            url: c.realtime_url.clone(),
            api_key: key.expose().to_owned(),
            model: c.model.clone(),
            transcription_model: c.transcription_model.clone(),
            connect_timeout: c.connect_timeout,
        }
    });
    let hooks = agent5_api::calls::hooks::Hooks::new(Arc::clone(state.telephony()));
    let hooks = match copies {
        Some(copies) => hooks.with_copies(copies),
        None => hooks,
    };
    bridge.install(
        Arc::new(hooks),
        agent5_bridge::MediaOptions {
            agent,
            recordings_dir: c.recordings_dir.clone(),
            core: agent5_bridge::call::core::CoreConfig {
                silence_timeout: c.silence_timeout,
                ..agent5_bridge::call::core::CoreConfig::default()
            },
        },
    );
    if c.retention_days > 0 {
        let (dir, days) = (c.recordings_dir.clone(), c.retention_days);
        let store = Arc::clone(&state.telephony().store);
        work.spawn(async move {
            loop {
                let d = dir.clone();
                let removed = agent5_api::background::spawn(move || {
                    agent5_bridge::recording::sweep(&d, days)
                })
                .await
                .unwrap_or(0);
                if removed > 0 {
                    tracing::info!(removed, days, "old recordings deleted");
                }
                // The copies in the store (several appliances) age the same way.
                let cutoff = agent5_api::model::now_millis()
                    - i64::try_from(days)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(86_400_000);
                match store.delete_recording_parts_before(cutoff).await {
                    Ok(0) => {}
                    Ok(parts) => {
                        tracing::info!(parts, days, "old recording copies deleted from the store")
                    }
                    Err(e) => tracing::warn!(error = %e, "deleting old recording copies failed"),
                }
                tokio::time::sleep(Duration::from_secs(86_400)).await;
            }
        });
    }
}

/// The api crate's Telnyx settings from the configuration.
fn dialer_settings(config: &Config) -> agent5_api::dialer::DialerSettings {
    let d = &config.dialer;
    let node = if d.node.is_empty() {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    } else {
        d.node.clone()
    };
    agent5_api::dialer::DialerSettings {
        node,
        tick: Duration::from_secs(1),
        lease_ttl: Duration::from_secs(d.lease_ttl_secs),
        inbound_reserve: d.inbound_reserve,
        reconcile_after: Duration::from_secs(d.reconcile_after_secs),
        refill_every: Duration::from_secs(d.refill_every_secs),
        abandon_pause_rate: d.abandon_pause_rate,
        failure_pause_after: d.failure_pause_after,
        default_zone: agent5_api::dialer::zones::zone_names_of_country(config.default_region.iso())
            .first()
            .copied()
            .unwrap_or("UTC")
            .to_owned(),
    }
}

fn telnyx_settings(config: &Config) -> agent5_api::calls::TelnyxSettings {
    let i = &config.integrations;
    let t = &config.telnyx;
    agent5_api::calls::TelnyxSettings {
        api_base: t.api_base.clone(),
        api_key: i.telnyx_api_key.as_ref().map(|k| k.expose().to_owned()),
        connection_id: i.telnyx_connection_id.clone(),
        from_number: i.telnyx_phone_number.clone(),
        stream_url: i.telnyx_stream_url.clone(),
        public_key: t.public_key.clone(),
        verify_signatures: i.telnyx_verify_signatures,
        tolerance_secs: t.signature_tolerance_secs,
        codec: t.codec.clone(),
        amd: t.answering_machine_detection.clone(),
        hangup_on_machine: t.hangup_on_machine,
        answer_inbound: t.answer_inbound,
        max_concurrent_calls: t.max_concurrent_calls,
        request_timeout: t.request_timeout,
        retry: agent5_api::integrations::telnyx::client::Retry {
            attempts: t.retry_attempts,
            backoff: t.retry_backoff,
        },
        ring_timeout_secs: t.ring_timeout_secs,
        transfer_to: t.transfer_to.clone(),
        clock: Arc::new(agent5_api::integrations::telnyx::signature::SystemClock),
        identity: Arc::new(
            agent5_api::cluster::Identity::new(&node_name(config), &config.cluster.public_url)
                .with_internal_addr(config.internal.as_ref().map_or("", |h| h.address.as_str())),
        ),
    }
}

/// `[cluster] node`, or the host's name.
fn node_name(config: &Config) -> String {
    if config.cluster.node.is_empty() {
        agent5_api::cluster::default_node_name()
    } else {
        config.cluster.node.clone()
    }
}

/// Opens the configured store (MongoDB when a URI is set, else SQLite) on `runtime`.
pub fn open_store_in(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
) -> Result<agent5_api::store::SharedStore, RunError> {
    use agent5_api::store::{self, StoreConfig};
    // Before the store opens: its work (and the CLI's imports) runs at this priority
    // from its first call.
    agent5_api::background::set_nice(config.background_nice);
    let choice = match &config.integrations.mongo_uri {
        Some(uri) => StoreConfig::Mongo {
            uri: uri.expose().to_owned(),
        },
        None => StoreConfig::Sqlite {
            path: config.sqlite_path.clone(),
        },
    };
    let opened = runtime.block_on(store::open(&choice))?;
    match &choice {
        StoreConfig::Mongo { uri } => {
            tracing::info!(backend = "mongo", uri = %store::redact_uri(uri), "store configured");
        }
        StoreConfig::Sqlite { path } => {
            tracing::info!(backend = "sqlite", path = %path.display(), "store opened");
        }
    }
    Ok(opened)
}

fn add_plain<A>(svc: &mut ListeningService<A>, b: &Bound) {
    match &b.addr {
        ListenAddr::Tcp(_) => svc.add_tcp(&b.key()),
        ListenAddr::Unix(_) => svc.add_uds(&b.key(), None),
    }
}

fn announce_config(config: &Config) {
    tracing::info!(
        config = %config.source.as_ref().map_or_else(|| "(built-in defaults)".to_owned(), |p| p.display().to_string()),
        data_dir = %config.data_dir.display(),
        auth_tokens = config.auth_tokens.len(),
        "agent5 starting"
    );
    for (name, missing) in config.integrations.status() {
        if !missing.is_empty() {
            tracing::warn!(
                integration = name,
                missing = %missing.join(","),
                "integration not configured; its features answer integration_not_configured"
            );
        }
    }
    if !config.integrations.telnyx_verify_signatures {
        tracing::warn!("telnyx.verify_signatures = false: Telnyx webhooks are NOT authenticated; never run like this in production");
    }
}

/// Periodic upkeep: bounded rate-limiter memory, the store's health, expired
/// sessions.
struct Housekeeping {
    shared: Arc<Shared>,
}

#[async_trait]
impl BackgroundService for Housekeeping {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let tracked = self.shared.live.load().limiters.evict_idle();
                    tracing::debug!(tracked, "rate limiter eviction");
                    // The store's health for alerting, whether or not anything polls /readyz.
                    let up = matches!(
                        tokio::time::timeout(Duration::from_secs(2), self.shared.store.ping()).await,
                        Ok(Ok(()))
                    );
                    self.shared.metrics.store_up.set(i64::from(up));
                    if up {
                        match self.shared.accounts.purge_expired().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
                            Err(e) => tracing::warn!(error = %e, "expired sessions not removed"),
                        }
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
