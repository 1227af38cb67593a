//! Hostile clients against the edge, all on loopback: huge request heads, a client
//! holding every connection it can, a full connection table, idle HTTP/2. In each
//! case the appliance refuses or closes what it must, counts it, and keeps answering
//! `/healthz` to everyone else (other loopback addresses stand for other clients).

use std::net::SocketAddr;
use std::time::Duration;

use agent5_e2e::client::{self, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "hostile-token-aaaaaaaaaaa";

fn start(limits: &str) -> Appliance {
    Appliance::start(Spec::new(
        agent5_bin!(),
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nidle_timeout_secs = 30\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n[auth]\ntokens = [\"{TOKEN}\"]\n[limits]\n{limits}\n"
        ),
    ))
}

/// A connection from loopback address `from` (127.0.0.x stands for another client).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((from, 0)))?;
    s.connect(to).await
}

/// `/healthz` from `from`, over a fresh connection; the status, or 0 when the
/// connection was refused or closed before an answer.
async fn healthz_from(from: [u8; 4], to: SocketAddr) -> u16 {
    let Ok(mut s) = connect_from(from, to).await else {
        return 0;
    };
    let req = b"GET /healthz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
    if s.write_all(req).await.is_err() {
        return 0;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    std::str::from_utf8(&out)
        .ok()
        .and_then(|t| t.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn metric(app: &Appliance, series: &str) -> f64 {
    let r = client::send(
        client::tcp(app.addr("metrics")).await,
        get("/metrics").body(empty()).expect("req"),
    )
    .await;
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Reads until the server closes; `true` if it did within `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_are_capped() {
    let app = start("max_head_bytes = 16384");
    let addr = app.addr("http");
    // 17 header lines of 60 KB, never finished: cut off at the cap, not read to 1 MiB.
    let mut s = connect_from([127, 0, 0, 1], addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: a\r\n")
        .await
        .expect("write");
    let line = format!("x-pad: {}\r\n", "a".repeat(60_000));
    let mut sent = 0;
    for _ in 0..17 {
        if s.write_all(line.as_bytes()).await.is_err() {
            break;
        }
        sent += line.len();
    }
    assert!(
        closed_within(&mut s, Duration::from_secs(10)).await,
        "closed after {sent} bytes"
    );
    assert_eq!(metric(&app, "agent5_http_heads_rejected_total").await, 1.0);
    // A head under the cap is fine, and so is a large body after a small head.
    let mut s = connect_from([127, 0, 0, 1], addr).await.expect("connect");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nhost: a\r\nx-pad: {}\r\nconnection: close\r\n\r\n",
        "b".repeat(12_000)
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let body = "x".repeat(200_000);
    let r = client::send(
        client::tcp(addr).await,
        http::Request::post("/api/status")
            .header("host", "a")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("req"),
    )
    .await;
    assert_ne!(r.status.as_u16(), 0);
    assert_eq!(healthz_from([127, 0, 0, 2], addr).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_connection() {
    let app = start("max_connections_per_client = 20");
    let addr = app.addr("http");
    // 40 connections from one address, each starting a head and stalling.
    let mut held = Vec::new();
    for _ in 0..40 {
        if let Ok(mut s) = connect_from([127, 0, 0, 5], addr).await {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n").await;
            held.push(s);
        }
    }
    // The ones over the cap are closed at once, counted.
    let mut closed = 0;
    for s in &mut held {
        if closed_within(s, Duration::from_millis(200)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "20 admitted, 20 refused");
    assert_eq!(
        metric(
            &app,
            "agent5_connections_rejected_total{reason=\"per_client\"}"
        )
        .await,
        20.0
    );
    // Everyone else is served; the capped client too once it lets go.
    assert_eq!(healthz_from([127, 0, 0, 6], addr).await, 200);
    assert_eq!(
        healthz_from([127, 0, 0, 5], addr).await,
        0,
        "still at its cap"
    );
    held.clear();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while healthz_from([127, 0, 0, 5], addr).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cap never freed"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_make_room_when_the_table_fills() {
    let app = start("max_connections = 20\nmax_connections_per_client = 100");
    let addr = app.addr("http");
    // 20 clients each make one request and keep the connection open, idle.
    let mut idle = Vec::new();
    for i in 0..20u8 {
        let mut s = connect_from([127, 0, 1, i + 1], addr)
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    // Past 90% of the table, idle connections are told to close (not after the 30 s
    // idle timeout), so a newcomer gets in.
    let started = tokio::time::Instant::now();
    while healthz_from([127, 0, 2, 1], addr).await != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "never got in");
        tokio::task::yield_now().await;
    }
    let mut shed = 0;
    for s in &mut idle {
        if closed_within(s, Duration::from_millis(100)).await {
            shed += 1;
        }
    }
    assert!(shed >= 1, "no idle connection was shed");
    assert_eq!(healthz_from([127, 0, 2, 2], addr).await, 200);
}

/// An HTTPS appliance with 1 s idle and header timeouts, and its test CA.
fn tls_app() -> (Appliance, agent5_e2e::certs::TestCa) {
    let ca = agent5_e2e::certs::TestCa::new();
    let leaf = ca.leaf_pem(&["h2.agent5.test"]);
    let app = Appliance::start(
        Spec::new(
            agent5_bin!(),
            "[server]\nlisten = []\nidle_timeout_secs = 1\nheader_timeout_secs = 1\n\
             [tls]\nlisten = [\"127.0.0.1:0\"]\nredirect_listen = [\"127.0.0.1:0\"]\n\
             [[tls.certificates]]\ncert = \"certs/h2.crt\"\nkey = \"certs/h2.key\"\n\
             [metrics]\nlisten = \"\"\n",
        )
        .file("certs/h2.crt", leaf.chain.clone())
        .file("certs/h2.key", leaf.key.clone()),
    );
    (app, ca)
}

/// The plaintext redirect listener is as public as the others: heads are capped there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_listener_caps_heads_too() {
    let (app, _ca) = tls_app();
    let mut s = TcpStream::connect(app.addr("redirect"))
        .await
        .expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: h2.agent5.test\r\n")
        .await
        .expect("write");
    let line = format!("x-pad: {}\r\n", "a".repeat(60_000));
    for _ in 0..17 {
        if s.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    assert!(
        closed_within(&mut s, Duration::from_secs(10)).await,
        "still open"
    );
    let mut ok = TcpStream::connect(app.addr("redirect"))
        .await
        .expect("connect");
    ok.write_all(b"GET /x HTTP/1.1\r\nhost: h2.agent5.test\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    ok.read_to_end(&mut out).await.expect("read");
    assert!(
        out.starts_with(b"HTTP/1.1 308"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// A TCP connection that never sends a ClientHello is closed after the header timeout
/// (Pingora's own handshake held it 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_client_is_closed_after_the_header_timeout() {
    let (app, _ca) = tls_app();
    let mut s = TcpStream::connect(app.addr("https"))
        .await
        .expect("connect");
    let started = tokio::time::Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(10)).await,
        "still open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The server picks the cipher suite from its own order (testssl.sh: "NOT a cipher
/// order configured" before), whatever order the client prefers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_chooses_the_cipher_suite() {
    use rustls::crypto::ring::{cipher_suite, default_provider};
    let (app, ca) = tls_app();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let (weakest_first, best) = if version == &rustls::version::TLS13 {
            (
                vec![
                    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
                    cipher_suite::TLS13_AES_256_GCM_SHA384,
                ],
                cipher_suite::TLS13_AES_256_GCM_SHA384,
            )
        } else {
            (
                vec![
                    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                ],
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            )
        };
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: weakest_first,
            ..default_provider()
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der()).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = client::tls(app.addr("https"), config, "h2.agent5.test")
            .await
            .expect("handshake");
        assert_eq!(
            tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite()),
            Some(best.suite()),
            "{version:?}"
        );
    }
}

/// An HTTP/2 connection that sends its preface and then nothing is closed after the
/// idle timeout (Pingora leaves `h2_idle_timeout` unset: it stayed open for minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    let (app, ca) = tls_app();
    let config = ca.client_config(&[b"h2"], &[&rustls::version::TLS13]);
    let mut tls = client::tls(app.addr("https"), config, "h2.agent5.test")
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // The client preface and an empty SETTINGS frame, then silence.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("preface");
    let started = tokio::time::Instant::now();
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tls.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// What held against a hostile client, kept as a test: path tricks, smuggling and
/// duplicate headers never reach the API without a valid token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_way_around_authentication() {
    let app = start("");
    let addr = app.addr("http");
    let raw = |req: String| async move {
        let mut s = connect_from([127, 0, 3, 1], addr).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let paths = [
        "/api/../api/status",
        "/static/..%2f..%2fapi/status",
        "//api/status",
        "/API/status",
        "/api/status%00",
        "/api%2fstatus",
        "/./api/status",
        "/healthz/../api/status",
        "/api/status?token=x",
    ];
    for path in paths {
        let reply = raw(format!(
            "GET {path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"
        ))
        .await;
        assert!(!reply.starts_with("HTTP/1.1 200"), "{path}: {reply}");
    }
    let smuggled = [
        // Both framings: refused or read as one request, never two.
        "POST /healthz HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /api/status HTTP/1.1\r\nhost: a\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\ncontent-length: 44\r\n\r\nGET /api/status HTTP/1.1\r\nhost: a\r\n\r\n",
        "GET /api/status HTTP/1.1\r\nhost: a\r\nauthorization: Bearer wrong\r\nauthorization: Bearer hostile-token-aaaaaaaaaaa\r\nconnection: close\r\n\r\n",
    ];
    for req in smuggled {
        let reply = raw(req.to_owned()).await;
        assert!(
            !reply.contains("\"websocket_sessions\""),
            "the API answered: {req:?} -> {reply}"
        );
    }
    assert_eq!(healthz_from([127, 0, 3, 2], addr).await, 200);
}
