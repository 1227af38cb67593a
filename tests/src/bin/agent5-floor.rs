//! `agent5-floor AGENT_WS_URL`: the least a media bridge can do per frame, to measure
//! what the machine allows before the appliance's own work. It accepts Telnyx-style
//! media sockets on an ephemeral loopback port (printed as `listening ADDR`), opens one
//! agent socket per call, and forwards each frame with nothing between: the caller's
//! payload copied into an `input_audio_buffer.append` as it is (both sides µ-law), the
//! agent's delta into a media frame (with `AGENT5_FLOOR_MARKS=1`, followed by a Telnyx
//! `mark` in the same write, as the appliance sends to learn what the caller heard; the
//! phone's answers are read and parsed, nothing more). No authentication, no call state, no jitter buffer,
//! no recording, no marks, no metrics. Like the appliance's edge it runs one
//! single-threaded runtime per core, each driving the connections handed to it, and its
//! sockets read in [`agent5_bridge::SOCKET_READ_CHUNK`]s.
//!
//! Used by `agent5-load` with `AGENT5_LOAD_FLOOR=1` (`make bench-floor`): the same phones
//! and echo agent as against the appliance, so the two runs differ only in the bridge.
//! Never a product: it exists to say how much of a call's cost is the machine's.

use std::fmt::Write as _;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(agent5_bridge::SOCKET_READ_CHUNK)
}

/// The fields the relay reads from either side, borrowed from the message.
#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(default)]
    event: Option<&'a str>,
    #[serde(default, rename = "type")]
    kind: Option<&'a str>,
    #[serde(default, borrow)]
    media: Option<Media<'a>>,
    #[serde(default)]
    delta: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct Media<'a> {
    payload: &'a str,
}

const SESSION_UPDATE: &str = r#"{"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}}"#;

fn main() {
    let Some(agent_url) = std::env::args().nth(1) else {
        eprintln!("usage: agent5-floor AGENT_WS_URL");
        std::process::exit(2);
    };
    let marks = std::env::var("AGENT5_FLOOR_MARKS").is_ok_and(|v| v == "1");
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let handles: Vec<tokio::runtime::Handle> = (0..cores)
        .map(|n| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("floor-{n}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let _ = tx.send(rt.handle().clone());
                    rt.block_on(std::future::pending::<()>());
                })
                .expect("thread");
            rx.recv().expect("runtime handle")
        })
        .collect();
    handles[0].clone().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening {}", listener.local_addr().expect("addr"));
        let mut next = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let url = agent_url.clone();
            // Handed over as a std socket so it registers with the runtime that drives it.
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            handles[next % handles.len()].spawn(async move {
                if let Ok(stream) = TcpStream::from_std(stream) {
                    relay(stream, &url, marks).await;
                }
            });
            next += 1;
        }
    });
}

async fn relay(stream: TcpStream, agent_url: &str, marks: bool) {
    let Ok(mut phone) =
        tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await
    else {
        return;
    };
    let Ok((mut agent, _)) =
        tokio_tungstenite::connect_async_with_config(agent_url, Some(ws_config()), true).await
    else {
        return;
    };
    if agent.send(Message::text(SESSION_UPDATE)).await.is_err() {
        return;
    }
    let (mut mark, mut out_mark) = (0u64, String::new());
    loop {
        tokio::select! {
            heard = phone.next() => {
                let Some(Ok(Message::Text(text))) = heard else { break };
                let Ok(e) = serde_json::from_str::<Event>(&text) else { continue };
                match (e.event, e.media) {
                    (Some("media"), Some(media)) => {
                        let mut out = String::with_capacity(64 + media.payload.len());
                        out.push_str(r#"{"type":"input_audio_buffer.append","audio":""#);
                        out.push_str(media.payload);
                        out.push_str(r#""}"#);
                        if agent.send(Message::text(out)).await.is_err() {
                            break;
                        }
                    }
                    (Some("stop"), _) => break,
                    _ => {}
                }
            }
            said = agent.next() => {
                let Some(Ok(Message::Text(text))) = said else { break };
                let Ok(e) = serde_json::from_str::<Event>(&text) else { continue };
                if let (Some("response.output_audio.delta"), Some(delta)) = (e.kind, e.delta) {
                    let mut out = String::with_capacity(96 + delta.len());
                    out.push_str(r#"{"event":"media","stream_id":"s","media":{"payload":""#);
                    out.push_str(delta);
                    out.push_str(r#""}}"#);
                    if marks {
                        // The mark after the chunk shares its write, as the appliance's do.
                        if phone.feed(Message::text(out)).await.is_err() {
                            break;
                        }
                        mark += 1;
                        let _ = write!(
                            out_mark,
                            r#"{{"event":"mark","stream_id":"s","mark":{{"name":"m{mark}"}}}}"#
                        );
                        out = std::mem::take(&mut out_mark);
                    }
                    if phone.send(Message::text(out)).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    let _ = agent.close(None).await;
    let _ = phone.close(None).await;
}
