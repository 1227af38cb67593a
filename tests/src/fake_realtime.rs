//! A fake OpenAI Realtime server speaking the GA events: it records what the appliance
//! sends, answers `response.create` with audio deltas and a transcript, runs a crude
//! VAD on the caller audio it receives (speech starts after `speech_after` appends,
//! stops after `speech_len` more, then a transcription and an automatic response, as
//! server VAD with `create_response` does), and can call a tool, stay silent, or drop
//! the connection mid-call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// How the fake agent behaves.
#[derive(Debug, Clone)]
pub struct Script {
    /// Audio chunks per response, each `chunk_bytes` long.
    pub chunks: usize,
    /// Response number `n` (from 1) is filled with [`response_byte`]`(n)`.
    pub chunk_bytes: usize,
    /// Caller appends after which speech starts, and how many more until it stops.
    pub speech_after: usize,
    pub speech_len: usize,
    /// After caller turn number N (from 1), call this tool instead of answering.
    pub tools: Vec<(usize, String, Value)>,
    /// Do not answer responses after this many (the silent agent).
    pub silent_after: Option<usize>,
    /// Close the socket after this many responses (first connection only).
    pub drop_after: Option<usize>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            chunks: 5,
            chunk_bytes: 160,
            speech_after: 10,
            speech_len: 40,
            tools: Vec::new(),
            silent_after: None,
            drop_after: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Seen {
    /// Every client event, per connection, in order.
    pub connections: Vec<Vec<Value>>,
    pub authorization: Vec<Option<String>>,
    pub paths: Vec<String>,
}

#[derive(Clone)]
pub struct FakeRealtime {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    changed: Arc<Notify>,
}

/// The byte of response `n`'s audio.
pub fn response_byte(n: usize) -> u8 {
    u8::try_from((0x10 * n) & 0xFF).unwrap_or(0x10)
}

impl FakeRealtime {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake realtime");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let fake = Self {
            url: format!("ws://{addr}/v1/realtime?model=gpt-realtime"),
            seen: Arc::new(Mutex::new(Seen::default())),
            changed: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((stream, _)) = listener.accept().await {
                n += 1;
                let server = server.clone();
                let script = script.clone();
                tokio::spawn(async move { server.session(stream, script, n == 1).await });
            }
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Events of connection `i` (from 0).
    pub fn events(&self, i: usize) -> Vec<Value> {
        self.lock().connections.get(i).cloned().unwrap_or_default()
    }

    pub fn connections(&self) -> usize {
        self.lock().connections.len()
    }

    pub fn authorization(&self, i: usize) -> Option<String> {
        self.lock().authorization.get(i).cloned().flatten()
    }

    pub fn path(&self, i: usize) -> Option<String> {
        self.lock().paths.get(i).cloned()
    }

    /// Waits (up to 15 s) until connection `i` saw an event matching `pred`.
    pub async fn wait_event(&self, i: usize, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            if let Some(v) = self.events(i).into_iter().find(|e| pred(e)) {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake realtime: no matching event on connection {i}: {:#?}",
                    self.events(i)
                        .iter()
                        .map(|e| e["type"].clone())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    // The handshake callback's error type is tungstenite's HTTP response.
    #[allow(clippy::result_large_err)]
    async fn session(&self, stream: tokio::net::TcpStream, script: Script, first: bool) {
        let seen = Arc::clone(&self.seen);
        let callback = move |req: &Request, res: Response| {
            let mut s = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.authorization.push(
                req.headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            );
            s.paths.push(req.uri().to_string());
            s.connections.push(Vec::new());
            Ok(res)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
            return;
        };
        let index = self.lock().connections.len() - 1;
        let mut responses = 0usize;
        let mut appends_since = 0usize;
        let mut speaking = false;
        let mut turns = 0usize;
        let mut item = 0usize;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            self.lock().connections[index].push(event.clone());
            self.changed.notify_waiters();
            let mut out: Vec<Value> = Vec::new();
            let mut respond = false;
            match event["type"].as_str().unwrap_or_default() {
                "session.update" => {
                    out.push(json!({"type": "session.created", "event_id": "e0", "session": {}}));
                    out.push(json!({"type": "session.updated", "event_id": "e1", "session": event["session"]}));
                }
                "response.create" => respond = true,
                "input_audio_buffer.append" => {
                    appends_since += 1;
                    if !speaking && appends_since == script.speech_after {
                        speaking = true;
                        out.push(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": format!("user-{turns}")}));
                    } else if speaking && appends_since == script.speech_after + script.speech_len {
                        speaking = false;
                        appends_since = 0;
                        turns += 1;
                        out.push(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0, "item_id": format!("user-{turns}")}));
                        out.push(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": format!("user-{turns}"), "content_index": 0, "transcript": format!("caller turn {turns}")}));
                        match script.tools.iter().find(|(t, _, _)| *t == turns) {
                            Some((_, name, args)) => {
                                out.push(json!({"type": "response.function_call_arguments.done", "response_id": "r", "item_id": "fc", "output_index": 0, "call_id": format!("call-{turns}"), "name": name, "arguments": args.to_string()}));
                            }
                            None => respond = true,
                        }
                    }
                }
                _ => {}
            }
            if respond && script.silent_after.is_none_or(|n| responses < n) {
                responses += 1;
                item += 1;
                let id = format!("resp-{index}-{item}");
                let byte = response_byte(responses);
                out.push(
                    json!({"type": "response.created", "response": {"id": format!("r{item}")}}),
                );
                for _ in 0..script.chunks {
                    out.push(json!({"type": "response.output_audio.delta", "response_id": format!("r{item}"), "item_id": id, "output_index": 0, "content_index": 0, "delta": STANDARD.encode(vec![byte; script.chunk_bytes])}));
                }
                out.push(json!({"type": "response.output_audio_transcript.done", "item_id": id, "transcript": format!("agent says {responses}")}));
                out.push(json!({"type": "response.done", "response": {"id": format!("r{item}"), "status": "completed"}}));
            }
            for o in out {
                if ws.send(Message::text(o.to_string())).await.is_err() {
                    return;
                }
            }
            if first && script.drop_after.is_some_and(|n| responses >= n) {
                let _ = ws.close(None).await;
                return;
            }
        }
    }
}
