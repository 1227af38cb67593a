//! TLS at the edge: SNI between two certificates, ALPN h2/http1.1, TLS 1.2+ only,
//! HSTS, the HTTP->HTTPS redirect listener and WebSockets over TLS.

use agent5_e2e::certs::{LeafPem, TestCa};
use agent5_e2e::client::{self, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "tls-token-aaaaaaaaaaaa";

struct Setup {
    app: Appliance,
    ca: TestCa,
    a: LeafPem,
    b: LeafPem,
}

fn setup() -> Setup {
    let ca = TestCa::new();
    let a = ca.leaf_pem(&["a.agent5.test"]);
    let b = ca.leaf_pem(&["b.agent5.test", "*.b.agent5.test"]);
    let config = format!(
        r#"
[server]
listen = []
[tls]
listen = ["127.0.0.1:0"]
redirect_listen = ["127.0.0.1:0"]
watch_interval_secs = 1
[[tls.certificates]]
cert = "certs/a.crt"
key = "certs/a.key"
[[tls.certificates]]
cert = "certs/b.crt"
key = "certs/b.key"
[metrics]
listen = ""
[auth]
tokens = ["{TOKEN}"]
[dev]
websocket_echo = true
"#
    );
    let app = Appliance::start(
        Spec::new(agent5_bin!(), config)
            .file("certs/a.crt", a.chain.clone())
            .file("certs/a.key", a.key.clone())
            .file("certs/b.crt", b.chain.clone())
            .file("certs/b.key", b.key.clone()),
    );
    Setup { app, ca, a, b }
}

fn h1() -> Vec<&'static [u8]> {
    vec![b"http/1.1"]
}

#[tokio::test]
async fn sni_selects_the_certificate_and_alpn_negotiates() {
    let s = setup();
    let addr = s.app.addr("https");
    let v12_13 = &[&rustls::version::TLS13, &rustls::version::TLS12][..];
    for (sni, leaf) in [
        ("a.agent5.test", &s.a),
        ("b.agent5.test", &s.b),
        ("x.b.agent5.test", &s.b),
    ] {
        let tls = client::tls(addr, s.ca.client_config(&h1(), v12_13), sni)
            .await
            .expect("handshake");
        let (_, conn) = tls.get_ref();
        let presented = conn.peer_certificates().expect("certs")[0].clone();
        assert_eq!(presented, leaf.der, "{sni}");
        assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let res = client::send(tls, get("/healthz").body(empty()).expect("req")).await;
        assert_eq!(res.status, 200);
        assert_eq!(
            res.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains")
        );
    }
    // TLS 1.2 only still works; h2 is chosen when offered.
    let tls12 = client::tls(
        addr,
        s.ca.client_config(&[b"h2", b"http/1.1"], &[&rustls::version::TLS12]),
        "a.agent5.test",
    )
    .await
    .expect("tls1.2 handshake");
    assert_eq!(tls12.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let res = client::send_h2(
        tls12,
        http::Request::get("https://a.agent5.test/api/status")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["version"], env!("CARGO_PKG_VERSION"));
    // The detailed readiness names each certificate served and the days it has left.
    let tls = client::tls(addr, s.ca.client_config(&h1(), v12_13), "a.agent5.test")
        .await
        .expect("handshake");
    let ready = client::send(
        tls,
        get("/readyz")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await
    .json();
    let certs = ready["certificates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = certs.iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"a.agent5.test"), "{ready}");
    assert!(
        certs
            .iter()
            .all(|c| c["days_left"].as_i64().is_some_and(|d| d > 0)),
        "{ready}"
    );
    // No call yet: no latency figure is invented.
    assert_eq!(
        ready["voice_to_voice_ms"],
        serde_json::json!({"count": 0, "p50": null, "p95": null})
    );
}

/// A TLS 1.1 ClientHello (no supported_versions extension) gets a protocol_version alert.
#[tokio::test]
async fn tls_1_1_is_refused() {
    let s = setup();
    let mut hello = vec![0x03, 0x02]; // client_version TLS 1.1
    hello.extend([0x5a; 32]); // random
    hello.push(0); // session id
                   // Suites rustls supports, so the version is the only thing it can object to.
    hello.extend([0x00, 0x08, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x2f, 0xc0, 0x13]);
    hello.extend([0x01, 0x00]); // null compression
                                // signature_algorithms (rustls wants it before it looks at the version).
    hello.extend([
        0x00, 0x0a, 0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01,
    ]);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(hello.len()).expect("len").to_be_bytes());
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(handshake.len()).expect("len").to_be_bytes());
    record.extend(handshake);
    let mut stream = client::tcp(s.app.addr("https")).await;
    stream.write_all(&record).await.expect("write");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.expect("read");
    assert_eq!(reply.first(), Some(&0x15), "an alert record: {reply:?}");
    assert_eq!(reply.last(), Some(&70), "protocol_version alert: {reply:?}");
}

#[tokio::test]
async fn plaintext_redirects_to_https() {
    let s = setup();
    let https_port = s.app.addr("https").port();
    let redirect = |host: &'static str, path: &'static str| {
        let addr = s.app.addr("redirect");
        async move {
            let req = http::Request::get(path).header("host", host).body(empty());
            client::send(client::tcp(addr).await, req.expect("req")).await
        }
    };
    let res = redirect("x.b.agent5.test", "/admin/monitor?x=1").await;
    assert_eq!(res.status, 308);
    assert_eq!(
        res.header("location"),
        Some(format!("https://x.b.agent5.test:{https_port}/admin/monitor?x=1").as_str())
    );
    // A Host the certificates do not cover is never where a client is sent.
    let res = redirect("evil.example", "/x").await;
    assert_eq!(res.status, 308);
    assert_eq!(
        res.header("location"),
        Some(format!("https://a.agent5.test:{https_port}/x").as_str())
    );
    let health = client::send(
        client::tcp(s.app.addr("redirect")).await,
        get("/healthz").body(empty()).expect("req"),
    )
    .await;
    assert_eq!(health.status, 200);
    let acme = client::send(
        client::tcp(s.app.addr("redirect")).await,
        get("/.well-known/acme-challenge/unknown-token")
            .body(empty())
            .expect("req"),
    )
    .await;
    assert_eq!(acme.status, 404, "challenges are answered, not redirected");
}

#[tokio::test]
async fn websocket_echo_over_tls() {
    let s = setup();
    let tls = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), &[&rustls::version::TLS13]),
        "a.agent5.test",
    )
    .await
    .expect("handshake");
    let mut req = "wss://a.agent5.test/monitor?call=c1"
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer.{TOKEN}").parse().expect("v"),
    );
    let (mut ws, res) = tokio_tungstenite::client_async(req, tls)
        .await
        .expect("upgrade");
    assert_eq!(res.status(), 101);
    for i in 0..3 {
        let frame = Message::binary(vec![i; 320]);
        ws.send(frame.clone()).await.expect("send");
        assert_eq!(ws.next().await.expect("frame").expect("ok"), frame);
    }
    ws.close(None).await.expect("close");
}

#[tokio::test]
async fn sighup_swaps_certificates_without_dropping_connections() {
    let s = setup();
    let v13 = &[&rustls::version::TLS13][..];
    let presented = |tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        tls.get_ref().1.peer_certificates().expect("certs")[0].clone()
    };
    let first = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), v13),
        "a.agent5.test",
    )
    .await
    .expect("handshake");
    assert_eq!(presented(&first), s.a.der);
    // A WebSocket opened before the reload.
    let tls = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), v13),
        "a.agent5.test",
    )
    .await
    .expect("handshake");
    let mut req = "wss://a.agent5.test/monitor?call=c1"
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer.{TOKEN}").parse().expect("v"),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls)
        .await
        .expect("upgrade");

    // A renewed certificate for a.agent5.test, then SIGHUP.
    let renewed = s.ca.leaf_pem(&["a.agent5.test"]);
    std::fs::write(s.app.dir().join("certs/a.crt"), &renewed.chain).expect("write");
    std::fs::write(s.app.dir().join("certs/a.key"), &renewed.key).expect("write");
    s.app.signal("HUP");
    s.app.wait_log(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("configuration reloaded"))
    });
    let after = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), v13),
        "a.agent5.test",
    )
    .await
    .expect("handshake");
    assert_eq!(
        presented(&after),
        renewed.der,
        "the next connection gets the new certificate"
    );
    let frame = Message::binary(vec![7; 64]);
    ws.send(frame.clone()).await.expect("send");
    assert_eq!(
        ws.next().await.expect("frame").expect("ok"),
        frame,
        "the open WebSocket lives on"
    );

    // A broken certificate is refused and the renewed one stays.
    std::fs::write(s.app.dir().join("certs/a.crt"), "not a certificate").expect("write");
    s.app.signal("HUP");
    s.app.wait_log(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("certificates invalid"))
    });
    let still = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), v13),
        "a.agent5.test",
    )
    .await
    .expect("handshake");
    assert_eq!(presented(&still), renewed.der);
    let metrics = client::send(
        still,
        get("/metrics")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    // Counted (the file watcher may have seen the broken file before the signal did).
    let errors: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("agent5_tls_cert_loads_total{result=\"error\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(errors >= 1, "{text}");
    ws.close(None).await.expect("close");
    drop(first);
}

#[tokio::test]
async fn a_renewed_certificate_file_is_picked_up_without_a_signal() {
    let s = setup();
    let v13 = &[&rustls::version::TLS13][..];
    let renewed = s.ca.leaf_pem(&["b.agent5.test", "*.b.agent5.test"]);
    std::fs::write(s.app.dir().join("certs/b.key"), &renewed.key).expect("write");
    std::fs::write(s.app.dir().join("certs/b.crt"), &renewed.chain).expect("write");
    s.app
        .wait_log(|v| v["message"] == "certificate files changed; reloading");
    s.app.wait_log(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("configuration reloaded"))
    });
    let tls = client::tls(
        s.app.addr("https"),
        s.ca.client_config(&h1(), v13),
        "x.b.agent5.test",
    )
    .await
    .expect("handshake");
    assert_eq!(
        tls.get_ref().1.peer_certificates().expect("certs")[0],
        renewed.der
    );
    assert_ne!(renewed.der, s.b.der);
}
