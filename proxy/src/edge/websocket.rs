//! WebSocket upgrades: validate the handshake, answer 101, take the raw stream from
//! Pingora and hand a `WsStream` to the bridge. Pingora's timeouts stop applying
//! here; the bridge runs its own ping and idle timers. HTTP/1.1 only.

use agent5_bridge::ws::WsStream;
use agent5_bridge::{SessionKind, SessionMeta};
use axum::body::Body;
use http::header::{HeaderMap, HeaderValue};
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::OrErr;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::respond;
use crate::filters::auth::WS_PROTOCOL_PREFIX;

pub const TELNYX_TOKEN_HEADER: &str = "x-telnyx-streaming-auth-token";

/// A handshake that can be accepted.
pub struct Handshake {
    accept: String,
    protocol: Option<String>,
}

/// Checks the upgrade request; the error is the response to send instead.
pub fn validate(session: &ServerSession) -> Result<Handshake, Box<http::Response<Body>>> {
    let h = session.req_header();
    let bad = |msg: &str| Box::new(respond::error(StatusCode::BAD_REQUEST, "bad_upgrade", msg));
    let has_token = |name: http::header::HeaderName, token: &str| {
        h.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    if !has_token(http::header::UPGRADE, "websocket") {
        let mut res = respond::error(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this path only accepts WebSocket connections",
        );
        res.headers_mut()
            .insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
        return Err(Box::new(res));
    }
    if session.is_http2() {
        return Err(bad("WebSockets need HTTP/1.1"));
    }
    if h.method != http::Method::GET {
        return Err(bad("the upgrade must be a GET"));
    }
    if !has_token(http::header::CONNECTION, "upgrade") {
        return Err(bad("Connection: upgrade is missing"));
    }
    if h.headers
        .get(http::header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(bad("Sec-WebSocket-Version must be 13"));
    }
    let Some(key) = h.headers.get(http::header::SEC_WEBSOCKET_KEY) else {
        return Err(bad("Sec-WebSocket-Key is missing"));
    };
    let protocol = select_protocol(&h.headers);
    Ok(Handshake {
        accept: derive_accept_key(key.as_bytes()),
        protocol,
    })
}

/// Picks the subprotocol to confirm: the first one that is not a credential, else the
/// credential itself (a browser that offered only `bearer.<token>` fails the handshake
/// unless one is confirmed).
fn select_protocol(headers: &HeaderMap) -> Option<String> {
    let offered: Vec<&str> = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    offered
        .iter()
        .find(|p| !p.starts_with(WS_PROTOCOL_PREFIX))
        .or_else(|| offered.first())
        .map(|p| (*p).to_owned())
}

/// A handshake's key and the subprotocol it will confirm (what a forwarded upgrade
/// hands the appliance holding the call, so that one confirms the same).
impl Handshake {
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

/// Answers 101 and takes the connection's stream from Pingora, moved onto this runtime
/// ([`super::rehome`]). `Ok(None)`: not an HTTP/1.1 session (refused earlier by
/// [`validate`]).
pub async fn switch(
    mut session: ServerSession,
    handshake: Handshake,
    decorate: impl FnOnce(&mut HeaderMap),
) -> pingora::Result<Option<pingora::protocols::Stream>> {
    let mut head = ResponseHeader::build(StatusCode::SWITCHING_PROTOCOLS, Some(4))?;
    head.insert_header(http::header::UPGRADE, "websocket")?;
    head.insert_header(http::header::CONNECTION, "Upgrade")?;
    head.insert_header(http::header::SEC_WEBSOCKET_ACCEPT, handshake.accept)?;
    if let Some(p) = handshake.protocol {
        head.insert_header(http::header::SEC_WEBSOCKET_PROTOCOL, p)?;
    }
    let mut extra = HeaderMap::new();
    decorate(&mut extra);
    for (name, value) in &extra {
        head.insert_header(name.clone(), value.clone())?;
    }
    session.write_response_header(Box::new(head)).await?;
    let ServerSession::H1(h1) = session else {
        return Ok(None);
    };
    let mut stream = h1.into_inner();
    // The 101 must be on the wire before the socket leaves Pingora's buffers.
    tokio::io::AsyncWriteExt::flush(&mut stream)
        .await
        .or_err(pingora::ErrorType::WriteError, "flushing the 101")?;
    Ok(Some(super::rehome::rehome(stream)))
}

/// Answers 101 and runs the bridge session until it ends.
pub async fn accept(
    session: ServerSession,
    handshake: Handshake,
    kind: SessionKind,
    meta: SessionMeta,
    bridge: &agent5_bridge::Bridge,
    max_message: u64,
    decorate: impl FnOnce(&mut HeaderMap),
) -> pingora::Result<()> {
    let Some(stream) = switch(session, handshake, decorate).await? else {
        return Ok(());
    };
    let limit = usize::try_from(max_message).unwrap_or(usize::MAX);
    let ws = WsStream::new(stream, Role::Server, limit, &[]);
    // The session runs as a task of its own, so a frame's wake-up polls the session
    // alone rather than the connection's whole chain of futures down to it (Pingora's
    // endpoint, the connection layer, the HTTP session, the upgrade). It stays on this
    // runtime (Pingora's are one per thread, where the socket was just registered) and
    // ends with the connection's task if that is dropped first.
    let bridge = bridge.clone();
    let mut task = Owned(tokio::spawn(async move {
        bridge.run_session(kind, ws, meta).await;
    }));
    if let Err(e) = (&mut task.0).await {
        if e.is_panic() {
            tracing::error!(kind = kind.label(), error = %e, "websocket session panicked");
        }
    }
    Ok(())
}

/// A task that is aborted when its owner goes away.
struct Owned(tokio::task::JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_session_task_ends_with_the_connection_that_owns_it() {
        let (alive, gone) = tokio::sync::oneshot::channel::<()>();
        let owned = Owned(tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await;
        }));
        drop(owned);
        // Paused time: a task left running would let the timeout pass at once.
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), gone).await;
        assert!(
            matches!(ended, Ok(Err(_))),
            "the task was aborted and dropped what it held"
        );
    }

    #[test]
    fn protocol_selection_prefers_a_real_protocol() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("bearer.abc, agent5"),
        );
        assert_eq!(select_protocol(&h).as_deref(), Some("agent5"));
        h.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("bearer.abc"),
        );
        assert_eq!(select_protocol(&h).as_deref(), Some("bearer.abc"));
        assert_eq!(select_protocol(&HeaderMap::new()), None);
    }
}
