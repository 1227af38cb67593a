//! The internal hop between appliances on one store (docs/cluster.md): a listen-in or
//! operator socket opened on this appliance for a call another appliance holds is
//! forwarded to that appliance's internal listener, and after the upgrade the bytes go
//! both ways untouched, so what the owner's bridge sends (close codes such as `4409
//! call_already_taken` included) reaches the browser as it was sent.
//!
//! Each forwarded request is signed with the secret the appliances share (HMAC-SHA256
//! over the time, the sending appliance, the request line, the WebSocket key and the
//! person the sending appliance authenticated); the owner accepts it within
//! [`MAX_SKEW_SECS`] of its own clock and runs the session as that person. The hop is
//! plain HTTP: it belongs on a private network, like the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use ring::hmac;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::respond;

/// The signature header of a forwarded request: `v1;t=<unix secs>;n=<node>;s=<sig>`.
pub const HOP_HEADER: &str = "x-agent5-hop";
/// The person the sending appliance authenticated (URL-safe base64 of JSON).
pub const ACTOR_HEADER: &str = "x-agent5-hop-actor";
/// How far the sending appliance's clock may be from the receiving one's.
pub const MAX_SKEW_SECS: u64 = 30;
/// Connecting to the owner and its answer to the upgrade, each.
const HOP_TIMEOUT: Duration = Duration::from_secs(3);
/// A refusal's body relayed from the owner is cut here.
const MAX_REFUSAL_BODY: usize = 16 * 1024;
/// Bytes read per direction per read while splicing.
const SPLICE_BUFFER: usize = 16 * 1024;

/// `agent5_cluster_forwarded_sockets_total{result}`.
pub const FORWARD_RESULTS: [&str; 3] = ["spliced", "refused", "unreachable"];
/// `agent5_cluster_hop_refused_total{reason}`.
pub const REFUSALS: [&str; 5] = ["unsigned", "malformed", "stale", "bad_signature", "path"];

/// Why the internal listener refused a request (the metric's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unsigned,
    Malformed,
    Stale,
    BadSignature,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// What a signature covers: everything that decides what the session is and for whom.
fn signed_text(ts: u64, node: &str, path_and_query: &str, ws_key: &str, actor: &str) -> String {
    format!("agent5-hop-v1\n{ts}\n{node}\nGET {path_and_query}\n{ws_key}\n{actor}")
}

/// The hop headers for a request from `node` at `ts` on behalf of `actor`.
pub fn sign(
    secret: &str,
    ts: u64,
    node: &str,
    path_and_query: &str,
    ws_key: &str,
    actor: &agent5_bridge::Actor,
) -> (String, String) {
    let actor = URL_SAFE_NO_PAD.encode(serde_json::to_vec(actor).unwrap_or_default());
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(
        &key,
        signed_text(ts, node, path_and_query, ws_key, &actor).as_bytes(),
    );
    let sig = URL_SAFE_NO_PAD.encode(tag.as_ref());
    (format!("v1;t={ts};n={node};s={sig}"), actor)
}

/// The person a forwarded request acts for, once its signature and time check out.
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    path_and_query: &str,
    now: u64,
) -> Result<agent5_bridge::Actor, Refusal> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let hop = text(HOP_HEADER).ok_or(Refusal::Unsigned)?;
    let field = |k: &str| {
        hop.split(';')
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
    };
    if !hop.starts_with("v1;") {
        return Err(Refusal::Malformed);
    }
    let (Some(ts), Some(node), Some(sig)) = (field("t"), field("n"), field("s")) else {
        return Err(Refusal::Malformed);
    };
    let ts: u64 = ts.parse().map_err(|_| Refusal::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| Refusal::Malformed)?;
    let actor = text(ACTOR_HEADER).unwrap_or_default();
    let ws_key = text("sec-websocket-key").unwrap_or_default();
    if ts.abs_diff(now) > MAX_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(
        &key,
        signed_text(ts, node, path_and_query, ws_key, actor).as_bytes(),
        &sig,
    )
    .map_err(|_| Refusal::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(actor)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(Refusal::Malformed)
}

/// A byte stream to the owner's internal listener.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `addr` (`host:port` or `unix:/path`) within [`HOP_TIMEOUT`].
async fn connect(addr: &str) -> std::io::Result<Box<dyn Io>> {
    let connecting = async {
        if let Some(path) = addr.strip_prefix("unix:") {
            let s = tokio::net::UnixStream::connect(path).await?;
            return Ok(Box::new(s) as Box<dyn Io>);
        }
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s) as Box<dyn Io>)
    };
    tokio::time::timeout(HOP_TIMEOUT, connecting)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// What the owner answered to a forwarded upgrade.
pub enum Answer {
    /// 101: the stream to splice with the browser's.
    Switched(Box<dyn Io>),
    /// Anything else, relayed to the browser as the owner sent it.
    Refused(http::Response<Body>),
}

/// A forwarded upgrade: the request the browser made, signed for the owner.
pub struct Upgrade<'a> {
    pub path_and_query: &'a str,
    pub ws_key: &'a str,
    pub protocol: Option<&'a str>,
    pub request_id: &'a str,
    pub actor: &'a agent5_bridge::Actor,
    /// The sending appliance's node name.
    pub node: &'a str,
    pub secret: &'a str,
}

/// Opens the upgrade on the owner at `addr`. `Err`: the owner could not be reached or
/// did not answer in time (the browser gets 502).
pub async fn open(addr: &str, up: &Upgrade<'_>, now: u64) -> std::io::Result<Answer> {
    let io = connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "internal hop connection ended");
        }
    });
    let (hop, actor) = sign(
        up.secret,
        now,
        up.node,
        up.path_and_query,
        up.ws_key,
        up.actor,
    );
    let mut req = http::Request::builder()
        .method(http::Method::GET)
        .uri(up.path_and_query)
        .header(http::header::HOST, "agent5-internal")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(http::header::SEC_WEBSOCKET_KEY, up.ws_key)
        .header(crate::filters::request_id::HEADER, up.request_id)
        .header(HOP_HEADER, hop)
        .header(ACTOR_HEADER, actor);
    if let Some(p) = up.protocol {
        req = req.header(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(std::io::Error::other)?;
    let res = tokio::time::timeout(HOP_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
        .map_err(std::io::Error::other)?;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upgraded = hyper::upgrade::on(res)
            .await
            .map_err(std::io::Error::other)?;
        return Ok(Answer::Switched(Box::new(TokioIo::new(upgraded))));
    }
    let (parts, body) = res.into_parts();
    let body = Limited::new(body, MAX_REFUSAL_BODY)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let mut relayed = respond::error(
        parts.status,
        "forwarded",
        "the appliance holding the call refused",
    );
    *relayed.body_mut() = Body::from(body);
    if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
        relayed
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, ct.clone());
    }
    relayed.headers_mut().remove(http::header::CONTENT_LENGTH);
    Ok(Answer::Refused(relayed))
}

/// Copies bytes both ways until either side closes, fails, or nothing moves either
/// way for `idle` (the owner's bridge pings well inside it). Returns the bytes sent
/// towards the owner and towards the browser.
pub async fn splice<A, B>(browser: A, owner: B, idle: Duration) -> (u64, u64)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut br, mut bw) = tokio::io::split(browser);
    let (mut or, mut ow) = tokio::io::split(owner);
    let moved = Activity::new();
    let (mut up, mut down) = (0u64, 0u64);
    {
        let to_owner = copy(&mut br, &mut ow, &moved, &mut up);
        let to_browser = copy(&mut or, &mut bw, &moved, &mut down);
        let watchdog = async {
            loop {
                let last = moved.last();
                tokio::time::sleep_until(last + idle).await;
                if moved.last() == last {
                    return;
                }
            }
        };
        tokio::select! {
            () = to_owner => {}
            () = to_browser => {}
            () = watchdog => tracing::debug!("forwarded socket idle; closed"),
        }
    }
    let _ = ow.shutdown().await;
    let _ = bw.shutdown().await;
    (up, down)
}

/// When bytes last moved either way (millisecond steps from the splice's start).
struct Activity {
    start: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> tokio::time::Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

async fn copy<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    moved: &Activity,
    total: &mut u64,
) {
    let mut buf = vec![0u8; SPLICE_BUFFER];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
            return;
        }
        *total += n as u64;
        moved.touch();
    }
}

/// The 502 a browser gets when the owner cannot be reached.
pub fn unreachable(node: &str, call_id: &str) -> http::Response<Body> {
    respond::error(
        StatusCode::BAD_GATEWAY,
        "node_unreachable",
        &format!(
            "appliance {node} holds call {call_id} but cannot be reached on its internal listener"
        ),
    )
}

/// Seconds since the Unix epoch by this appliance's clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn signed(ts: u64, path: &str, key: &str) -> HeaderMap {
        let actor = agent5_bridge::Actor {
            label: "ops@example.com".into(),
            user_id: Some("u1".into()),
            client_ip: Some("192.0.2.1".into()),
            request_id: Some("r1".into()),
        };
        let (hop, actor) = sign(SECRET, ts, "node-a", path, key, &actor);
        let mut h = HeaderMap::new();
        h.insert(HOP_HEADER, HeaderValue::from_str(&hop).expect("hop"));
        h.insert(ACTOR_HEADER, HeaderValue::from_str(&actor).expect("actor"));
        h.insert(
            "sec-websocket-key",
            HeaderValue::from_str(key).expect("key"),
        );
        h
    }

    #[test]
    fn a_signed_request_names_its_person() {
        let h = signed(1_000, "/monitor?call=c1", "k1");
        let actor = verify(SECRET, &h, "/monitor?call=c1", 1_010).expect("valid");
        assert_eq!(actor.label, "ops@example.com");
        assert_eq!(actor.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn anything_changed_or_late_is_refused() {
        let h = signed(1_000, "/monitor?call=c1", "k1");
        assert_eq!(
            verify(SECRET, &h, "/monitor?call=c2", 1_000),
            Err(Refusal::BadSignature),
            "another call"
        );
        assert_eq!(
            verify(
                "another secret of enough length....",
                &h,
                "/monitor?call=c1",
                1_000
            ),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &h, "/monitor?call=c1", 1_000 + MAX_SKEW_SECS + 1),
            Err(Refusal::Stale)
        );
        let mut other_key = h.clone();
        other_key.insert("sec-websocket-key", HeaderValue::from_static("k2"));
        assert_eq!(
            verify(SECRET, &other_key, "/monitor?call=c1", 1_000),
            Err(Refusal::BadSignature)
        );
        let mut other_actor = h.clone();
        other_actor.insert(
            ACTOR_HEADER,
            HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(br#"{"label":"admin"}"#)).expect("v"),
        );
        assert_eq!(
            verify(SECRET, &other_actor, "/monitor?call=c1", 1_000),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &HeaderMap::new(), "/monitor?call=c1", 1_000),
            Err(Refusal::Unsigned)
        );
        let mut garbled = h;
        garbled.insert(HOP_HEADER, HeaderValue::from_static("v1;t=x;n=a;s=%%"));
        assert_eq!(
            verify(SECRET, &garbled, "/monitor?call=c1", 1_000),
            Err(Refusal::Malformed)
        );
    }

    #[tokio::test]
    async fn splice_copies_both_ways_until_one_side_closes() {
        let (browser, mut browser_far) = tokio::io::duplex(64);
        let (owner, mut owner_far) = tokio::io::duplex(64);
        let spliced = tokio::spawn(splice(browser, owner, Duration::from_secs(60)));
        browser_far.write_all(b"masked frame").await.expect("up");
        let mut got = [0u8; 12];
        owner_far.read_exact(&mut got).await.expect("arrives");
        assert_eq!(&got, b"masked frame");
        owner_far
            .write_all(b"\x88\x02\x0f\xf9")
            .await
            .expect("close 4089");
        let mut close = [0u8; 4];
        browser_far.read_exact(&mut close).await.expect("arrives");
        assert_eq!(&close, b"\x88\x02\x0f\xf9", "byte for byte");
        drop(owner_far);
        let (up, down) = spliced.await.expect("ends");
        assert_eq!((up, down), (12, 4));
        let mut rest = Vec::new();
        browser_far.read_to_end(&mut rest).await.expect("closed");
        assert!(rest.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_splice_closes_after_the_idle_time() {
        let (browser, _browser_far) = tokio::io::duplex(64);
        let (owner, _owner_far) = tokio::io::duplex(64);
        let started = tokio::time::Instant::now();
        splice(browser, owner, Duration::from_secs(60)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }
}
