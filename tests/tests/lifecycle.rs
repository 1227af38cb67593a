//! The process: `check-config`, running from flags alone, and graceful shutdown
//! (in-flight work finishes, WebSockets are told to go away, a second signal is final).

use std::process::Command;

use agent5_e2e::client::{self, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const BIG: usize = 32 * 1024 * 1024;

fn check_config(contents: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("agent5.toml");
    std::fs::write(&path, contents).expect("write");
    let out = Command::new(agent5_bin!())
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("AUTH_TOKEN")
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_names_the_bad_key() {
    let (ok, _, err) = check_config("[server]\nlisten = [\"localhost:80\"]\n");
    assert!(!ok);
    assert!(err.contains("server.listen[0]"), "{err}");
    let (ok, _, err) = check_config("[server]\nlsten = []\n");
    assert!(!ok);
    assert!(err.contains("lsten"), "{err}");
    let (ok, _, err) = check_config("[auth]\ntokens = [\"short\"]\n");
    assert!(!ok);
    assert!(err.contains("auth.tokens[0]"), "{err}");
    let (ok, out, _) = check_config(include_str!("../../conf/agent5.toml"));
    assert!(ok);
    assert!(out.starts_with("ok: "), "{out}");
}

#[tokio::test]
async fn runs_from_flags_without_a_config_file() {
    let spec = Spec {
        no_config_file: true,
        ..Spec::new(agent5_bin!(), "")
    }
    .arg("--listen")
    .arg("unix:flags.sock")
    .arg("--metrics-listen")
    .arg("");
    let app = Appliance::start(spec);
    let res = client::send(
        client::unix(&app.unix_socket("http")).await,
        get("/healthz").body(empty()).expect("req"),
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(!app.listeners.contains_key("metrics"));
    assert!(app.dir().join("data").is_dir(), "data dir created");
}

fn with_big_file() -> Appliance {
    Appliance::start(
        Spec::new(
            agent5_bin!(),
            "[server]\nlisten = [\"unix:a.sock\"]\nadmin_dir = \"admin\"\ngrace_period_secs = 30\n[metrics]\nlisten = \"\"\n[dev]\nwebsocket_echo = true\n[auth]\ntokens = [\"drain-token-aaaaaaaaaa\"]\n",
        )
        .file("admin/big.bin", vec![7u8; BIG]),
    )
}

/// Starts a download and returns its (not yet read) body.
async fn start_download(app: &Appliance) -> hyper::body::Incoming {
    let stream = client::unix(&app.unix_socket("http")).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let res = sender
        .send_request(get("/big.bin").body(empty()).expect("req"))
        .await
        .expect("response head");
    assert_eq!(res.status(), 200);
    res.into_body()
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let mut app = with_big_file();
    let body = start_download(&app).await;
    app.signal("TERM");
    app.wait_log(|v| v["signal"] == "SIGTERM");
    let bytes = body.collect().await.expect("whole body").to_bytes();
    assert_eq!(bytes.len(), BIG, "the download finished during the drain");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    let stopped = app.wait_log(|v| v["message"] == "agent5 stopped" && v["outcome"].is_string());
    assert_eq!(stopped["outcome"], "drained");
}

#[tokio::test]
async fn second_signal_exits_at_once() {
    let mut app = with_big_file();
    let body = start_download(&app).await;
    app.signal("TERM");
    app.wait_log(|v| v["signal"] == "SIGTERM");
    app.signal("INT");
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
    let stopped = app.wait_log(|v| v["message"] == "agent5 stopped" && v["outcome"].is_string());
    assert_eq!(stopped["outcome"], "second signal");
    let partial = body
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    assert!(partial < BIG, "the download was cut");
}

#[tokio::test]
async fn websocket_sessions_are_told_to_go_away() {
    let mut app = with_big_file();
    let stream = client::unix(&app.unix_socket("http")).await;
    let (mut ws, _) = tokio_tungstenite::client_async(
        "ws://agent5.test/monitor?call=c1&token=drain-token-aaaaaaaaaa",
        stream,
    )
    .await
    .expect("upgrade");
    app.signal("TERM");
    match ws.next().await.expect("frame").expect("ok") {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason.as_str(), "draining");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(ws);
    let status = app.wait_exit();
    assert!(status.success(), "{status:?}");
}
