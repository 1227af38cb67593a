//! The edge: one Pingora `HttpServerApp` per listener role. Each request on the main
//! listeners runs the filter chain (`crate::filters`: CORS preflight, ACME challenge,
//! probes, rate limit, bearer auth, body limit), is dispatched by the route table, and
//! its response gets the edge's headers, the filters' headers, an access-log line and
//! metrics.

mod api;
mod cluster;
pub(crate) mod console;
pub mod guarded;
pub mod head_limit;
pub(crate) mod hop;
pub(crate) mod probes;
pub(crate) mod redirect;
mod rehome;
pub(crate) mod respond;
mod static_files;
mod stream_wrap;
pub mod tls_accept;
mod websocket;

use std::sync::Arc;
use std::time::Instant;

use agent5_bridge::SessionMeta;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use axum::body::Body;
use http::header::HeaderValue;
use http::StatusCode;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

use crate::access_log;
use crate::config::Config;
use crate::filters::{client_ip, conn_limit, headers, request_id, Ctx, Live, Verdict};
use crate::lifecycle::Lifecycle;
use crate::metrics::{method_label, Metrics};
use crate::router::{self, Route};

/// Everything the listeners share. The `ArcSwap` fields can be replaced live.
pub struct Shared {
    pub config: Config,
    pub metrics: Metrics,
    /// The filter chain and the rest of what a reload changes, swapped as one.
    pub live: ArcSwap<Live>,
    pub api: axum::Router,
    pub store: agent5_api::store::SharedStore,
    /// Sessions and tokens (the same instance the API's handlers use).
    pub accounts: Arc<agent5_api::accounts::Accounts>,
    pub bridge: agent5_bridge::Bridge,
    /// This appliance's node name and epoch among the appliances on the store.
    pub identity: Arc<agent5_api::cluster::Identity>,
    pub lifecycle: Arc<Lifecycle>,
    /// The certificates served (for the names the HTTPS redirect may send clients to).
    pub certs: Option<crate::tls::CertStore>,
    /// The connection caps (checked at accept by [`ConnFilter`], held by [`guarded`]).
    pub conns: Arc<conn_limit::ConnLimits>,
}

/// Pingora's accept-time hook: refuses a connection over the caps before any TLS.
#[derive(Debug)]
pub struct ConnFilter(pub Arc<Shared>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

#[async_trait]
impl pingora::listeners::ConnectionFilter for ConnFilter {
    async fn should_accept(&self, addr: Option<&std::net::SocketAddr>) -> bool {
        let Some(addr) = addr else {
            return true;
        };
        match self.0.conns.admit(addr.ip(), Instant::now()) {
            Ok(()) => true,
            Err(why) => {
                self.0
                    .metrics
                    .connections_rejected
                    .with_label_values(&[why.label()])
                    .inc();
                false
            }
        }
    }
}

/// What a listener is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// HTTP and HTTPS listeners: the whole route table.
    Main,
    /// Plaintext redirect to HTTPS on this port.
    Redirect { https_port: u16 },
    /// The separate Prometheus listener.
    Metrics,
    /// The internal listener: listen-in and operator sockets other appliances forward
    /// here, signed with the shared secret (see [`hop`]).
    Internal,
}

pub struct Edge {
    shared: Arc<Shared>,
    role: Role,
    options: pingora::apps::HttpServerOptions,
}

impl Edge {
    pub fn new(shared: Arc<Shared>, role: Role) -> Self {
        let mut options = pingora::apps::HttpServerOptions::default();
        // An HTTP/2 connection with no stream open is closed like an idle HTTP/1.1 one.
        options.h2_idle_timeout = Some(shared.config.idle_timeout);
        Self {
            shared,
            role,
            options,
        }
    }
}

/// Streams one HTTP/2 connection may have open at once.
const H2_MAX_STREAMS: u32 = 100;

/// How long a kept-alive connection may wait for its next request while the
/// connection table is nearly full (the configured idle timeout otherwise).
const IDLE_UNDER_PRESSURE: std::time::Duration = std::time::Duration::from_secs(1);

/// A response written: its status, and whether the connection may serve another
/// request.
struct Sent {
    status: u16,
    reusable: bool,
}

impl Sent {
    /// The session back when it may serve another request, and the status sent.
    fn keep(self, session: ServerSession) -> (Option<ServerSession>, u16) {
        (self.reusable.then_some(session), self.status)
    }
}

/// What answering a request came to.
enum Answered {
    Sent(Sent),
    /// A WebSocket upgrade: the session is handed over for the socket's life.
    Upgrade(agent5_bridge::SessionKind),
    /// The internal listener's request: the hop takes the session over.
    Internal,
}

/// Counts an HTTP/1.x connection while it is open; travels with the connection
/// between keep-alive requests.
struct ConnGuard(prometheus::IntGauge);

impl ConnGuard {
    fn open(gauge: &prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[async_trait]
impl HttpServerApp for Edge {
    fn server_options(&self) -> Option<&pingora::apps::HttpServerOptions> {
        Some(&self.options)
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        let mut h2 = pingora::protocols::http::v2::server::H2Options::new();
        h2.max_header_list_size(u32::try_from(self.shared.config.limits.head).unwrap_or(u32::MAX))
            .max_concurrent_streams(H2_MAX_STREAMS);
        Some(h2)
    }

    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let shared = &self.shared;
        let conn = session
            .take_connection_user_context()
            .and_then(|c| c.downcast::<ConnGuard>().ok());
        let reused = conn.is_some();
        let conn = match conn {
            Some(c) => Some(c),
            None if !session.is_http2() => {
                Some(Box::new(ConnGuard::open(&shared.metrics.open_connections)))
            }
            None => None,
        };
        if !self.read_head(&mut session, reused).await {
            return None;
        }
        let cfg = &shared.config;
        let _active = shared.lifecycle.track();
        shared.metrics.in_flight.inc();
        let _in_flight = scopeguard(&shared.metrics.in_flight);
        if shared.lifecycle.is_draining() || *shutdown.borrow() {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(cfg.idle_timeout.as_secs()));
        }

        let mut ctx = context(&session, &cfg.trust_proxy);
        // The session is lent to the answer and handed over only to what keeps it (an
        // upgrade, the internal hop): moving it into every level's future was copied
        // at each level, for every request. Those two are boxed: their futures are
        // large and would otherwise make every request's future as large.
        let (session, status) = match self.answer(&mut session, &mut ctx).await {
            Answered::Sent(sent) => sent.keep(session),
            Answered::Upgrade(kind) => Box::pin(self.upgrade(session, &ctx, kind)).await,
            Answered::Internal => Box::pin(self.internal(session, &mut ctx)).await,
        };
        self.record(session.as_ref(), &ctx, status);
        let session = session?;
        let mut persistent = HttpPersistentSettings::for_session(&session);
        if let Some(conn) = conn {
            persistent.set_user_context(conn);
        }
        match session.finish().await {
            Ok(Some(stream)) => Some(ReusedHttpStream::from_reusable_stream(stream, persistent)),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "connection not reusable");
                None
            }
        }
    }
}

impl Edge {
    /// Reads the request head within the header timeout (after the idle wait on a
    /// kept-alive connection, cut short when the connection table fills up). `false`:
    /// the connection is done (closed, timed out, shed, or its head too large).
    async fn read_head(&self, session: &mut ServerSession, reused: bool) -> bool {
        let shared = &self.shared;
        let cfg = &shared.config;
        session.set_read_timeout(Some(cfg.idle_timeout));
        session.set_write_timeout(Some(cfg.idle_timeout));
        // Idle keep-alive waits are cut short when the connection table fills up, so
        // idle clients cannot keep new ones (Telnyx's media sockets) out.
        let idle = if shared.conns.pressure() >= conn_limit::SHED_AT {
            IDLE_UNDER_PRESSURE
        } else {
            cfg.idle_timeout
        };
        let head_deadline = if reused {
            idle + cfg.header_timeout
        } else {
            cfg.header_timeout
        };
        let phase = session.stream().and_then(head_limit::HeadLimited::phase_of);
        if let Some(p) = &phase {
            p.head();
        }
        let read =
            pingora_timeout::fast_timeout::fast_timeout(head_deadline, session.read_request());
        // A kept-alive connection waiting for its next request closes when the
        // connection table fills up (see `conn_limit`).
        let shed = shared.conns.shed();
        let read = if reused {
            tokio::select! {
                r = read => r,
                () = shed => return false,
            }
        } else {
            read.await
        };
        match read {
            Ok(Ok(true)) => {}
            Ok(Err(_)) if phase.as_ref().is_some_and(|p| p.exceeded()) => {
                shared.metrics.heads_rejected.inc();
                return false;
            }
            Ok(Ok(false) | Err(_)) | Err(_) => return false,
        }
        if let Some(p) = &phase {
            p.body();
        }
        true
    }

    /// Answers by the listener's role, or says who takes the session over.
    async fn answer(&self, session: &mut ServerSession, ctx: &mut Ctx) -> Answered {
        let shared = &self.shared;
        let cfg = &shared.config;
        match self.role {
            Role::Main => self.handle(session, ctx).await,
            Role::Redirect { https_port } => {
                ctx.route = Route::Static;
                let head = session.req_header().as_owned_parts();
                let names = self
                    .shared
                    .certs
                    .as_ref()
                    .map(|c| c.current().names())
                    .unwrap_or_default();
                let res =
                    Box::pin(redirect::answer(&cfg.data_dir, https_port, &names, &head)).await;
                Answered::Sent(self.finish(session, ctx, res).await)
            }
            Role::Metrics => {
                let path = session.req_header().uri.path().to_owned();
                ctx.route = router::classify(&path);
                let res = match ctx.route {
                    Route::Metrics => probes::metrics(shared),
                    Route::Health => probes::healthz(),
                    Route::Ready => Box::pin(probes::readyz(shared, true)).await,
                    _ => respond::error(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        "this listener serves /metrics, /healthz and /readyz",
                    ),
                };
                Answered::Sent(self.finish(session, ctx, res).await)
            }
            Role::Internal => Answered::Internal,
        }
    }

    /// A socket another appliance forwarded: its signature checked, then run here as
    /// the person that appliance authenticated. Never forwarded again.
    async fn internal(
        &self,
        session: ServerSession,
        ctx: &mut Ctx,
    ) -> (Option<ServerSession>, u16) {
        let shared = &self.shared;
        let head = session.req_header();
        ctx.route = router::classify(head.uri.path());
        let refuse = |reason: &str, status: StatusCode, msg: &str| {
            shared
                .metrics
                .hop_refused
                .with_label_values(&[reason])
                .inc();
            respond::error(status, "hop_refused", msg)
        };
        let Route::WebSocket(
            kind @ (agent5_bridge::SessionKind::Monitor | agent5_bridge::SessionKind::Operator),
        ) = ctx.route
        else {
            let res = refuse(
                "path",
                StatusCode::NOT_FOUND,
                "the internal listener serves forwarded /monitor and /operator-bridge sockets only",
            );
            return self.finish_owned(session, ctx, res).await;
        };
        let Some(internal) = &shared.config.internal else {
            let res = refuse(
                "unsigned",
                StatusCode::UNAUTHORIZED,
                "no shared secret configured",
            );
            return self.finish_owned(session, ctx, res).await;
        };
        let path_and_query = head
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let actor = match hop::verify(
            internal.secret.expose(),
            &head.headers,
            path_and_query,
            hop::unix_now(),
        ) {
            Ok(actor) => actor,
            Err(why) => {
                tracing::warn!(request_id = %ctx.request_id, reason = why.label(), "internal hop request refused");
                let res = refuse(
                    why.label(),
                    StatusCode::UNAUTHORIZED,
                    "the request is not signed with this cluster's secret, or too late",
                );
                return self.finish_owned(session, ctx, res).await;
            }
        };
        let handshake = match websocket::validate(&session) {
            Ok(h) => h,
            Err(res) => return self.finish_owned(session, ctx, *res).await,
        };
        self.run_socket(session, ctx, kind, handshake, actor).await
    }

    /// The main listeners' pipeline: the filter chain, then the route (a WebSocket
    /// route hands the session over to [`Self::upgrade`]).
    async fn handle(&self, session: &mut ServerSession, ctx: &mut Ctx) -> Answered {
        let shared = &self.shared;
        ctx.route = router::classify(session.req_header().uri.path());
        let live = shared.live.load();
        for filter in &live.filters {
            if let Verdict::Answer(res) = filter.request(session.req_header(), ctx, shared).await {
                if ctx.close {
                    session.set_keepalive(None);
                }
                return Answered::Sent(self.finish(session, ctx, res).await);
            }
        }
        match ctx.route {
            Route::Api | Route::Upload | Route::Webhook | Route::Recording => {
                let res = api::dispatch(session, &shared.api, ctx).await;
                Answered::Sent(self.finish(session, ctx, res).await)
            }
            // The upgrade (the whole life of a call's socket) takes the session over.
            Route::WebSocket(kind) => Answered::Upgrade(kind),
            Route::Static | Route::Metrics | Route::Health | Route::Ready => {
                let head = session.req_header();
                // Files from disk are boxed: their future is large and would otherwise
                // make every request's future as large (allocated and copied per request).
                let res = match &shared.config.console_dir {
                    Some(dir) => {
                        Box::pin(static_files::serve(dir, &head.method, head.uri.path())).await
                    }
                    None => console::serve(&head.method, head.uri.path(), &head.headers),
                };
                Answered::Sent(self.finish(session, ctx, res).await)
            }
        }
    }

    async fn upgrade(
        &self,
        session: ServerSession,
        ctx: &Ctx,
        kind: agent5_bridge::SessionKind,
    ) -> (Option<ServerSession>, u16) {
        let handshake = match websocket::validate(&session) {
            Ok(h) => h,
            Err(res) => return self.finish_owned(session, ctx, *res).await,
        };
        if matches!(
            kind,
            agent5_bridge::SessionKind::Monitor | agent5_bridge::SessionKind::Operator
        ) {
            let query = session.req_header().uri.query().unwrap_or_default();
            let location = cluster::locate(&self.shared, query).await;
            if let cluster::Location::Peer { call_id, node } = &location {
                if let (Some(internal), false) =
                    (&self.shared.config.internal, node.internal_addr.is_empty())
                {
                    return self
                        .forward(session, ctx, handshake, internal, call_id, node)
                        .await;
                }
            }
            if let Some(res) = cluster::refusal(&location) {
                return self.finish_owned(session, ctx, res).await;
            }
        }
        let actor = actor_of(ctx);
        self.run_socket(session, ctx, kind, handshake, actor).await
    }

    /// Answers 101 and runs the bridge session for `actor` until it ends.
    async fn run_socket(
        &self,
        session: ServerSession,
        ctx: &Ctx,
        kind: agent5_bridge::SessionKind,
        handshake: websocket::Handshake,
        actor: agent5_bridge::Actor,
    ) -> (Option<ServerSession>, u16) {
        let head = session.req_header();
        let meta = SessionMeta {
            request_id: ctx.request_id.clone(),
            query: head.uri.query().unwrap_or_default().to_owned(),
            stream_token: head
                .headers
                .get(websocket::TELNYX_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            actor,
        };
        let shared = &self.shared;
        // The upgrade is logged when it happens; the session's end is the bridge's to log.
        self.log(ctx, head, 101, 0, 0);
        let label = [kind.label()];
        shared
            .metrics
            .websocket_sessions_total
            .with_label_values(&label)
            .inc();
        let open = shared.metrics.websocket_sessions.with_label_values(&label);
        open.inc();
        let _open = scopeguard(&open);
        let request_id = ctx.request_id.clone();
        let result = websocket::accept(
            session,
            handshake,
            kind,
            meta,
            &shared.bridge,
            shared.config.limits.websocket_message,
            |h| {
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    h.insert(request_id::HEADER, v);
                }
            },
        )
        .await;
        if let Err(e) = result {
            tracing::info!(request_id = %ctx.request_id, error = %e, "websocket upgrade failed");
        }
        (None, 101)
    }

    /// A socket for a call `node` holds: opened there over the internal hop, then the
    /// browser's bytes and the owner's are spliced untouched until either side ends.
    async fn forward(
        &self,
        session: ServerSession,
        ctx: &Ctx,
        handshake: websocket::Handshake,
        internal: &crate::config::InternalHop,
        call_id: &str,
        node: &agent5_api::model::NodeRecord,
    ) -> (Option<ServerSession>, u16) {
        let shared = &self.shared;
        let head = session.req_header();
        let count = |result: &str| {
            shared
                .metrics
                .hop_forwarded
                .with_label_values(&[result])
                .inc();
        };
        let actor = actor_of(ctx);
        let path_and_query = head
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let ws_key = head
            .headers
            .get(http::header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let up = hop::Upgrade {
            path_and_query: &path_and_query,
            ws_key: &ws_key,
            protocol: handshake.protocol(),
            request_id: &ctx.request_id,
            actor: &actor,
            node: shared.identity.node(),
            secret: internal.secret.expose(),
        };
        let owner = match hop::open(&node.internal_addr, &up, hop::unix_now()).await {
            Ok(hop::Answer::Switched(owner)) => owner,
            Ok(hop::Answer::Refused(res)) => {
                count("refused");
                return self.finish_owned(session, ctx, res).await;
            }
            Err(e) => {
                count("unreachable");
                tracing::warn!(request_id = %ctx.request_id, node = %node.id, error = %e, "internal hop to the call's appliance failed");
                return self
                    .finish_owned(session, ctx, hop::unreachable(&node.id, call_id))
                    .await;
            }
        };
        count("spliced");
        self.log(ctx, head, 101, 0, 0);
        let request_id = ctx.request_id.clone();
        let browser = websocket::switch(session, handshake, |h| {
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                h.insert(request_id::HEADER, v);
            }
        })
        .await;
        match browser {
            Ok(Some(browser)) => {
                let (up, down) = hop::splice(browser, owner, shared.config.idle_timeout).await;
                tracing::debug!(request_id = %ctx.request_id, node = %node.id, up, down, "forwarded socket ended");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(request_id = %ctx.request_id, error = %e, "websocket upgrade failed");
            }
        }
        (None, 101)
    }

    /// Decorates and sends a response.
    async fn finish(
        &self,
        session: &mut ServerSession,
        ctx: &Ctx,
        res: http::Response<Body>,
    ) -> Sent {
        let (mut parts, body) = res.into_parts();
        let mut h = headers::with_security(std::mem::take(&mut parts.headers), ctx.tls);
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            h.insert(request_id::HEADER, v);
        }
        // API answers, exports and recordings carry personal data: no cache keeps them.
        if ctx.route.is_personal() {
            h.entry(http::header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
        if matches!(self.role, Role::Main) {
            for filter in &self.shared.live.load().filters {
                filter.response(session.req_header(), ctx, &mut h);
            }
        }
        parts.headers = h;
        match respond::send(session, http::Response::from_parts(parts, body)).await {
            Ok(status) => Sent {
                status,
                reusable: true,
            },
            Err(e) => {
                tracing::debug!(request_id = %ctx.request_id, error = %e, "client went away while we answered");
                Sent {
                    status: 499,
                    reusable: false,
                }
            }
        }
    }

    /// [`Self::finish`] for the paths that own the session (upgrades, the internal
    /// hop): the session back when it can serve another request.
    async fn finish_owned(
        &self,
        mut session: ServerSession,
        ctx: &Ctx,
        res: http::Response<Body>,
    ) -> (Option<ServerSession>, u16) {
        self.finish(&mut session, ctx, res).await.keep(session)
    }

    fn record(&self, session: Option<&ServerSession>, ctx: &Ctx, status: u16) {
        if status == 101 {
            return;
        }
        let Some(session) = session else {
            return;
        };
        let sent = session.body_bytes_sent() as u64;
        let read = session.body_bytes_read() as u64;
        self.log(ctx, session.req_header(), status, read, sent);
    }

    fn log(
        &self,
        ctx: &Ctx,
        head: &pingora::http::RequestHeader,
        status: u16,
        read: u64,
        sent: u64,
    ) {
        let elapsed = ctx.started.elapsed();
        self.shared
            .metrics
            .observe(ctx.route.index(), &head.method, status, elapsed, read, sent);
        if !self.shared.config.access_log {
            return;
        }
        access_log::emit(
            &access_log::Entry {
                request_id: &ctx.request_id,
                method: method_label(&head.method),
                path: head.uri.path(),
                query: head.uri.query(),
                status,
                bytes: sent,
                duration: elapsed,
                client_ip: ctx.client_ip,
                user_agent: head
                    .headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
                route: ctx.route.label(),
                tls: ctx.tls,
            },
            ctx.route.is_probe(),
        );
    }
}

/// The request's facts before any filter runs.
fn context(session: &ServerSession, trust_proxy: &crate::config::TrustProxy) -> Ctx {
    let head = session.req_header();
    Ctx {
        started: Instant::now(),
        request_id: request_id::accept_or_generate(
            head.headers
                .get(request_id::HEADER)
                .map(HeaderValue::as_bytes),
        ),
        route: Route::Static,
        client_ip: client_ip::resolve(
            session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            head.headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok()),
            trust_proxy,
        ),
        tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        rate: None,
        body_limit: 0,
        close: false,
        principal: None,
    }
}

/// The person the filters authenticated, as the bridge's audit names them.
fn actor_of(ctx: &Ctx) -> agent5_bridge::Actor {
    agent5_bridge::Actor {
        label: ctx
            .principal
            .as_ref()
            .map(|p| p.label())
            .unwrap_or_default(),
        user_id: ctx.principal.as_ref().and_then(|p| p.user_id.clone()),
        client_ip: Some(ctx.client_ip.to_string()),
        request_id: Some(ctx.request_id.clone()),
    }
}

/// Decrements a gauge when dropped.
fn scopeguard(gauge: &prometheus::IntGauge) -> impl Drop + '_ {
    struct Dec<'a>(&'a prometheus::IntGauge);
    impl Drop for Dec<'_> {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    Dec(gauge)
}
