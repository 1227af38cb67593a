//! A fake Telnyx media client: it opens `/websocket?call=…` with the stream token
//! header, sends the documented frames (connected, start, media paced at 20 ms, dtmf,
//! stop, or garbage), and collects what the appliance sends back, echoing each `mark`
//! as a caller's phone would once the audio before it was played (or never, to hold
//! the agent's audio "unheard").

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Inbox {
    frames: Vec<Value>,
    closed: Option<(u16, String)>,
}

pub struct MediaClient {
    out: mpsc::UnboundedSender<Message>,
    inbox: Arc<Mutex<Inbox>>,
    changed: Arc<Notify>,
    seq: u64,
}

impl MediaClient {
    /// Connects over the appliance's Unix socket. `echo_marks`: answer each mark.
    pub async fn connect(
        socket: &Path,
        call_id: &str,
        token: Option<&str>,
        echo_marks: bool,
    ) -> Self {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .expect("connect");
        let mut req = format!("ws://agent5.test/websocket?call={call_id}")
            .into_client_request()
            .expect("request");
        if let Some(t) = token {
            req.headers_mut().insert(
                "x-telnyx-streaming-auth-token",
                HeaderValue::from_str(t).expect("token"),
            );
        }
        let (ws, _) = tokio_tungstenite::client_async(req, stream)
            .await
            .expect("websocket");
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let changed = Arc::new(Notify::new());
        let (inbox2, changed2, echo) = (Arc::clone(&inbox), Arc::clone(&changed), out.clone());
        tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                match msg {
                    Ok(Message::Text(t)) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if echo_marks && v["event"] == "mark" {
                            let back = json!({"event": "mark", "sequence_number": "0", "stream_id": "s", "mark": {"name": v["mark"]["name"]}});
                            let _ = echo.send(Message::text(back.to_string()));
                        }
                        lock(&inbox2).frames.push(v);
                    }
                    Ok(Message::Close(f)) => {
                        lock(&inbox2).closed = Some(f.map_or((1005, String::new()), |f| {
                            (u16::from(f.code), f.reason.to_string())
                        }));
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                changed2.notify_waiters();
            }
            if lock(&inbox2).closed.is_none() {
                lock(&inbox2).closed = Some((1006, String::new()));
            }
            changed2.notify_waiters();
        });
        Self {
            out,
            inbox,
            changed,
            seq: 1,
        }
    }

    pub fn send(&self, v: &Value) {
        let _ = self.out.send(Message::text(v.to_string()));
    }

    pub fn send_raw(&self, m: Message) {
        let _ = self.out.send(m);
    }

    pub fn connected(&self) {
        self.send(&json!({"event": "connected", "version": "1.0.0"}));
    }

    pub fn start(&mut self, encoding: &str) {
        self.seq += 1;
        self.send(&json!({"event": "start", "sequence_number": self.seq.to_string(), "stream_id": "stream-1",
            "start": {"user_id": "u", "call_control_id": "v2:fake-1", "call_session_id": "s", "from": "+3225550000", "to": "+32475123456",
                      "media_format": {"encoding": encoding, "sample_rate": 8000, "channels": 1}}}));
    }

    /// One inbound media frame with an explicit sequence number and timestamp (ms).
    pub fn media(&self, seq: u64, ts_ms: u64, payload: &[u8]) {
        self.send(&json!({"event": "media", "sequence_number": seq.to_string(), "stream_id": "stream-1",
            "media": {"track": "inbound", "chunk": seq.to_string(), "timestamp": ts_ms.to_string(), "payload": STANDARD.encode(payload)}}));
    }

    /// `count` frames of 20 ms, paced in real time, in `order` (indices into the frames;
    /// `None` = in order). Frame `i` is `byte` except its first byte, which is `i`
    /// (wrapping), so order and placement can be checked. Returns the end timestamp.
    pub async fn talk(
        &mut self,
        byte: u8,
        count: u64,
        first_ts_ms: u64,
        order: Option<&[usize]>,
    ) -> u64 {
        let base = self.seq + 1;
        let frames: Vec<(u64, u64)> = (0..count)
            .map(|i| (base + i, first_ts_ms + i * 20))
            .collect();
        let idx: Vec<usize> = order.map_or_else(|| (0..frames.len()).collect(), <[usize]>::to_vec);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in idx {
            tick.tick().await;
            let (seq, ts) = frames[i];
            self.media(seq, ts, &frame(byte, i));
        }
        self.seq = base + count - 1;
        first_ts_ms + count * 20
    }

    pub fn dtmf(&mut self, digit: &str) {
        self.seq += 1;
        self.send(&json!({"event": "dtmf", "stream_id": "stream-1", "occurred_at": crate::fake_telnyx::carrier_time(crate::fake_telnyx::now_millis()), "sequence_number": self.seq.to_string(), "dtmf": {"digit": digit}}));
    }

    pub fn stop(&mut self) {
        self.seq += 1;
        self.send(&json!({"event": "stop", "sequence_number": self.seq.to_string(), "stream_id": "stream-1", "stop": {"user_id": "u", "call_control_id": "v2:fake-1"}}));
    }

    pub fn frames(&self) -> Vec<Value> {
        lock(&self.inbox).frames.clone()
    }

    pub fn closed(&self) -> Option<(u16, String)> {
        lock(&self.inbox).closed.clone()
    }

    /// The agent audio received (media payloads, decoded, in order).
    pub fn audio(&self) -> Vec<u8> {
        self.frames()
            .iter()
            .filter(|f| f["event"] == "media")
            .flat_map(|f| {
                STANDARD
                    .decode(f["media"]["payload"].as_str().unwrap_or_default())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Waits (up to 15 s) until `pred` holds over what was received.
    pub async fn wait(&self, what: &str, pred: impl Fn(&[Value], Option<&(u16, String)>) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            {
                let inbox = lock(&self.inbox);
                if pred(&inbox.frames, inbox.closed.as_ref()) {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake media: never saw {what}; got {:?}",
                    self.frames()
                        .iter()
                        .map(|f| f["event"].clone())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Closes the socket (as Telnyx does when the call ends).
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }
}

fn lock(m: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The payload of frame `i` sent by [`MediaClient::talk`].
pub fn frame(byte: u8, i: usize) -> Vec<u8> {
    let mut f = vec![byte; 160];
    f[0] = u8::try_from(i % 256).unwrap_or(0);
    f
}
