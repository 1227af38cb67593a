//! Session kinds, the registry of open sessions and the drain signal.
//!
//! Media sessions run the call bridge once the hooks are installed
//! ([`Bridge::install`]); the browser sessions (Studio, operator, monitor) answer
//! 1013 `bridge_unavailable` until they land, so a client sees an honest answer rather
//! than a silent socket. The test flag `dev.websocket_echo` echoes every frame instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::call::media::MediaOptions;
use crate::hooks::CallHooks;
use crate::metrics::BridgeMetrics;
use crate::ws::WsStream;

const CLOSE_HANDSHAKE: Duration = Duration::from_secs(5);

/// The four WebSocket endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// `/websocket`: Telnyx media stream; authenticated by its per-call stream token.
    Media,
    /// `/agent-stream`: Agent Studio in the browser.
    Studio,
    /// `/operator-bridge`: operator takeover.
    Operator,
    /// `/monitor`: listen-in.
    Monitor,
}

impl SessionKind {
    pub const ALL: [Self; 4] = [Self::Media, Self::Studio, Self::Operator, Self::Monitor];

    pub fn label(self) -> &'static str {
        match self {
            Self::Media => "media",
            Self::Studio => "studio",
            Self::Operator => "operator",
            Self::Monitor => "monitor",
        }
    }

    /// Browser sessions carry the operator's bearer token; Telnyx cannot, and is
    /// authenticated by the per-call stream token instead.
    pub fn needs_bearer(self) -> bool {
        !matches!(self, Self::Media)
    }
}

/// What the edge knows about the session's request.
#[derive(Debug, Clone)]
pub struct SessionMeta {
    pub request_id: String,
    /// Query string of the upgrade request (`room=`, `call=`, ...), secrets included:
    /// never log it whole.
    pub query: String,
    /// `x-telnyx-streaming-auth-token`, for media sessions.
    pub stream_token: Option<String>,
    /// Who opened a browser session (empty for media streams).
    pub actor: crate::hooks::Actor,
}

#[derive(Debug, Clone, Copy)]
pub struct BridgeOptions {
    /// Test-only echo of every frame.
    pub echo: bool,
    /// Close a session that sends nothing (not even a pong) for this long.
    pub idle_timeout: Duration,
    /// Ping interval keeping NATs and proxies from dropping quiet sessions.
    pub ping_interval: Duration,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            echo: false,
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
        }
    }
}

/// The session registry.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    options: BridgeOptions,
    open: AtomicUsize,
    drain: watch::Sender<bool>,
    /// Set on drain and on an upgrade hand-over: event streams end (their clients
    /// reconnect to the successor) while calls carry on.
    streams_end: watch::Sender<bool>,
    metrics: BridgeMetrics,
    media: OnceLock<(Arc<dyn CallHooks>, MediaOptions)>,
    live: crate::live::LiveCalls,
}

impl Bridge {
    pub fn new(options: BridgeOptions) -> Self {
        let (drain, _) = watch::channel(false);
        let (streams_end, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                options,
                open: AtomicUsize::new(0),
                drain,
                streams_end,
                metrics: BridgeMetrics::new(),
                media: OnceLock::new(),
                live: crate::live::LiveCalls::default(),
            }),
        }
    }

    /// Installs what live calls need (once; later calls are ignored).
    pub fn install(&self, hooks: Arc<dyn CallHooks>, options: MediaOptions) {
        let _ = self.inner.media.set((hooks, options));
    }

    pub fn metrics(&self) -> &BridgeMetrics {
        &self.inner.metrics
    }

    /// The hooks, once installed.
    pub fn hooks(&self) -> Option<Arc<dyn CallHooks>> {
        self.inner.media.get().map(|(h, _)| Arc::clone(h))
    }

    /// The calls live now, and their events.
    pub fn live(&self) -> &crate::live::LiveCalls {
        &self.inner.live
    }

    /// Resolves when long-lived responses such as event streams should end: on drain
    /// and on an upgrade hand-over.
    pub async fn draining(&self) {
        let mut rx = self.inner.streams_end.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    pub fn open_sessions(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// Asks every session to finish: it closes with 1001 (going away) once it reaches
    /// a point where that loses nothing.
    pub fn drain(&self) {
        self.inner.streams_end.send_replace(true);
        self.inner.drain.send_replace(true);
    }

    /// The listeners went to a successor process (zero-downtime upgrade): event
    /// streams end so their clients reconnect to it, while WebSocket sessions (calls,
    /// listen-in, takeover) run on here to their natural end.
    pub fn hand_over(&self) {
        self.inner.streams_end.send_replace(true);
    }

    /// Runs one session to its end.
    pub async fn run_session<S>(&self, kind: SessionKind, ws: WsStream<S>, meta: SessionMeta)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        let _open = OpenGuard(&self.inner.open);
        let drain = self.inner.drain.subscribe();
        let result = match (self.inner.options.echo, kind, self.inner.media.get()) {
            (true, _, _) => echo(ws, drain, self.inner.options).await,
            (false, SessionKind::Media, Some((hooks, options))) => {
                // Boxed: a call's state is large and lives as long as the call.
                Box::pin(crate::call::media::run(
                    ws,
                    &meta,
                    Arc::clone(hooks),
                    options,
                    &self.inner.metrics,
                    &self.inner.live,
                ))
                .await
            }
            (false, SessionKind::Studio, Some((hooks, options))) => {
                Box::pin(crate::studio::run(
                    ws,
                    &meta,
                    Arc::clone(hooks),
                    options,
                    &self.inner.metrics,
                ))
                .await
            }
            (false, SessionKind::Operator, Some(_)) => {
                Box::pin(crate::operator::run(ws, &meta, self)).await
            }
            (false, SessionKind::Monitor, Some(_)) => {
                Box::pin(crate::monitor::run(ws, &meta, self)).await
            }
            _ => refuse(ws).await,
        };
        match result {
            Ok(reason) => {
                tracing::debug!(kind = kind.label(), request_id = %meta.request_id, reason, "websocket session ended")
            }
            Err(e) => {
                tracing::info!(kind = kind.label(), request_id = %meta.request_id, error = %e, "websocket session failed")
            }
        }
    }
}

struct OpenGuard<'a>(&'a AtomicUsize);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WsStream<S>) -> WsResult {
    ws.close(Some(CloseFrame {
        code: CloseCode::Again,
        reason: "bridge_unavailable".into(),
    }))
    .await?;
    Ok("refused: bridge unavailable")
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WsStream<S>,
    mut drain: watch::Receiver<bool>,
    options: BridgeOptions,
) -> WsResult {
    let mut ping = tokio::time::interval(options.ping_interval);
    ping.tick().await;
    let mut last_seen = tokio::time::Instant::now();
    loop {
        let idle_deadline = last_seen + options.idle_timeout;
        tokio::select! {
            biased;
            msg = ws.next() => {
                let Some(msg) = msg else { return Ok("peer closed") };
                last_seen = tokio::time::Instant::now();
                match msg? {
                    m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await?,
                    Message::Close(_) => return Ok("peer closed"),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            drained = wait_drain(&mut drain) => {
                if drained {
                    ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "draining".into() })).await?;
                    // Give the peer a moment to answer the close so it ends cleanly.
                    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                        while let Some(Ok(m)) = ws.next().await {
                            if m.is_close() { break; }
                        }
                    }).await;
                    return Ok("drained");
                }
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                ws.close(Some(CloseFrame { code: CloseCode::Policy, reason: "idle_timeout".into() })).await?;
                return Ok("idle timeout");
            }
            _ = ping.tick() => ws.send(Message::Ping(Vec::new().into())).await?,
        }
    }
}

/// Resolves once draining starts (true) or the registry is gone (false).
async fn wait_drain(drain: &mut watch::Receiver<bool>) -> bool {
    drain.wait_for(|d| *d).await.is_ok()
}

/// Closes a session's socket with `code` and `reason` (errors: the peer is gone).
pub(crate) async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WsStream<S>,
    code: CloseCode,
    reason: &str,
) {
    let _ = ws
        .close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair() -> (
        WsStream<tokio::io::DuplexStream>,
        tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        (
            WsStream::new(a, Role::Server, 1 << 20, &[]),
            tokio_tungstenite::WebSocketStream::from_raw_socket(b, Role::Client, None).await,
        )
    }

    fn meta() -> SessionMeta {
        SessionMeta {
            request_id: "r".into(),
            query: String::new(),
            stream_token: None,
            actor: crate::Actor::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn echo_then_drain_closes_going_away() {
        let bridge = Bridge::new(BridgeOptions {
            echo: true,
            ..BridgeOptions::default()
        });
        let (server, mut client) = pair().await;
        let b = bridge.clone();
        let task =
            tokio::spawn(async move { b.run_session(SessionKind::Studio, server, meta()).await });
        client.send(Message::text("hello")).await.expect("send");
        assert_eq!(
            client.next().await.expect("frame").expect("ok"),
            Message::text("hello")
        );
        assert_eq!(bridge.open_sessions(), 1);
        bridge.drain();
        match client.next().await.expect("frame").expect("ok") {
            Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::Away),
            other => panic!("expected close, got {other:?}"),
        }
        drop(client);
        task.await.expect("join");
        assert_eq!(bridge.open_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_session_is_closed() {
        use tokio::io::AsyncReadExt;
        let bridge = Bridge::new(BridgeOptions {
            echo: true,
            ..BridgeOptions::default()
        });
        let (server, mut silent_peer) = tokio::io::duplex(64 * 1024);
        let server = WsStream::new(server, Role::Server, 1 << 20, &[]);
        let b = bridge.clone();
        // The peer reads nothing and answers no ping until the server gave up.
        b.run_session(SessionKind::Monitor, server, meta()).await;
        let mut wire = Vec::new();
        silent_peer.read_to_end(&mut wire).await.expect("read");
        let mut expected = vec![0x89, 0x00, 0x89, 0x00]; // pings at 20 s and 40 s
        expected.extend([0x88, 14, 0x03, 0xF0]); // close 1008 at 60 s
        expected.extend(b"idle_timeout");
        assert_eq!(wire, expected);
    }

    #[tokio::test]
    async fn without_bridge_sessions_are_refused() {
        let bridge = Bridge::new(BridgeOptions::default());
        let (server, mut client) = pair().await;
        let b = bridge.clone();
        tokio::spawn(async move { b.run_session(SessionKind::Operator, server, meta()).await });
        match client.next().await.expect("frame").expect("ok") {
            Message::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::Again);
                assert_eq!(f.reason.as_str(), "bridge_unavailable");
            }
            other => panic!("expected close, got {other:?}"),
        }
    }
}
