//! `/agent-stream?profile=&lang=&campaign=`: Agent Studio. The same agent session as a
//! phone call, with the browser as the caller: browser PCM16 24 kHz in (the seed's
//! `{"type":"audio"}` and `{"type":"commit"}`), the agent's audio out as
//! `{"type":"agent_audio_24k","audio"}`, plus `transcript_delta`, `agent_speaking`,
//! `first_audio_delta`, `barge_in`, and `latency` (`{"type":"latency","ms"}`: end of the
//! browser's speech to the agent's first audio, per turn). The session is recorded
//! (resampled to the µ-law 8 kHz stereo of calls) and transcribed as a call flagged
//! `studio`.

use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::agent::client::connect;
use crate::agent::{session_update_with, AgentIn, AgentOut};
use crate::call::core::{Track, TurnRecord};
use crate::hooks::{CallHooks, Studio};
use crate::recording::Recorder;
use crate::resample::Resampler;
use crate::{MediaOptions, SessionMeta};

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

pub fn parse(query: &str) -> Studio {
    let mut s = Studio::default();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = (!v.is_empty() && v.len() <= 100).then(|| v.to_owned());
        match k {
            "profile" => s.profile = v,
            "lang" => s.lang = v,
            "campaign" => s.campaign = v,
            _ => {}
        }
    }
    s
}

fn pcm(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// 24 kHz PCM16 to 8 kHz µ-law, for the recording.
struct Down(Resampler);

impl Down {
    fn ulaw(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.0
            .process(&pcm(bytes))
            .into_iter()
            .map(crate::g711::linear_to_ulaw)
            .collect()
    }
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, v: Value) -> bool {
    ws.send(Message::text(v.to_string())).await.is_ok()
}

pub async fn run<S>(
    mut ws: WebSocketStream<S>,
    meta: &SessionMeta,
    hooks: Arc<dyn CallHooks>,
    options: &MediaOptions,
) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let studio = parse(&meta.query);
    let Some(cfg) = options.agent.clone() else {
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Again,
                reason: "agent_not_configured".into(),
            }))
            .await;
        return Ok("refused: no agent");
    };
    let call = match hooks.studio_started(&studio).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "studio session refused");
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "bad_request".into(),
                }))
                .await;
            return Ok("refused");
        }
    };
    let mut agent = match connect(&cfg).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(call_id = %call.call_id, error = %e, "studio: agent unavailable");
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Again,
                    reason: "agent_unavailable".into(),
                }))
                .await;
            hooks.studio_ended(&call.call_id).await;
            return Ok("agent unavailable");
        }
    };
    let format = json!({"type": "audio/pcm", "rate": 24000});
    let setup = session_update_with(&call.profile, &format, &cfg.model, &cfg.transcription_model);
    if agent.send(Message::text(setup.to_json())).await.is_err() {
        hooks.studio_ended(&call.call_id).await;
        return Ok("agent unavailable");
    }
    let path = options.recordings_dir.join(format!("{}.wav", call.call_id));
    let mut recorder = Recorder::create(&path).ok();
    let (mut down_in, mut down_out) = (
        Down(Resampler::new(24_000, 8000, 16)),
        Down(Resampler::new(24_000, 8000, 16)),
    );
    let started = Instant::now();
    let sample_now = |t: Instant| (t.duration_since(started).as_micros() * 8 / 1000) as u64;
    let ms = |t: Instant| i64::try_from(t.duration_since(started).as_millis()).unwrap_or(0);
    let mut caller_cursor = 0u64;
    let mut play_cursor = 0u64;
    let mut speaking = false;
    let mut first_in_response = true;
    let mut speech_started: Option<Instant> = None;
    let mut speech_stopped: Option<Instant> = None;
    let mut item: (String, Instant, u64) = (String::new(), started, 0);
    let mut clock = tokio::time::interval(std::time::Duration::from_millis(250));
    let result = loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break "browser left" };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => break "browser left",
                    _ => continue,
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("audio") => {
                        let b64 = v["audio"].as_str().unwrap_or_default().to_owned();
                        let Ok(bytes) = STANDARD.decode(&b64) else { continue };
                        let now = sample_now(Instant::now());
                        caller_cursor = caller_cursor.max(now.saturating_sub(8000));
                        let ulaw = down_in.ulaw(&bytes);
                        let n = ulaw.len() as u64;
                        if let Some(r) = recorder.as_mut() {
                            r.audio(Track::Caller, caller_cursor, ulaw);
                        }
                        caller_cursor += n;
                        if agent.send(Message::text(AgentOut::Append { audio: b64 }.to_json())).await.is_err() {
                            break "agent left";
                        }
                    }
                    Some("commit") => {
                        speech_stopped = Some(Instant::now());
                        let _ = agent.send(Message::text(AgentOut::Commit.to_json())).await;
                        let _ = agent.send(Message::text(AgentOut::ResponseCreate { response: None }.to_json())).await;
                    }
                    _ => {}
                }
            }
            event = agent.next() => {
                let Some(Ok(Message::Text(text))) = event else {
                    if matches!(event, Some(Ok(_))) { continue; }
                    break "agent left";
                };
                let now = Instant::now();
                let Ok(event) = AgentIn::parse(&text) else { continue };
                let ok = match event {
                    AgentIn::AudioDelta { item_id, delta, .. } => {
                        let Ok(bytes) = STANDARD.decode(&delta) else { continue };
                        if item_id != item.0 {
                            item = (item_id, now, 0);
                        }
                        item.2 += bytes.len() as u64 / 48;
                        let mut ok = true;
                        if first_in_response {
                            first_in_response = false;
                            ok &= say(&mut ws, json!({"type": "first_audio_delta"})).await;
                            if let Some(stop) = speech_stopped.take() {
                                let latency = now.duration_since(stop).as_millis();
                                ok &= say(&mut ws, json!({"type": "latency", "ms": latency})).await;
                            }
                        }
                        if !speaking {
                            speaking = true;
                            ok &= say(&mut ws, json!({"type": "agent_speaking", "speaking": true})).await;
                        }
                        play_cursor = play_cursor.max(sample_now(now));
                        let ulaw = down_out.ulaw(&bytes);
                        let n = ulaw.len() as u64;
                        if let Some(r) = recorder.as_mut() {
                            r.audio(Track::Agent, play_cursor, ulaw);
                        }
                        play_cursor += n;
                        ok && say(&mut ws, json!({"type": "agent_audio_24k", "audio": delta})).await
                    }
                    AgentIn::TranscriptDelta { delta, .. } => say(&mut ws, json!({"type": "transcript_delta", "text": delta})).await,
                    AgentIn::TranscriptDone { transcript, .. } => {
                        let start = ms(item.1);
                        hooks.turn(&call.call_id, TurnRecord { role: "agent", text: transcript, start_ms: start, end_ms: start + i64::try_from(item.2).unwrap_or(0), interrupted: false }).await;
                        true
                    }
                    AgentIn::InputTranscript { transcript, .. } => {
                        let end = speech_stopped.unwrap_or(now);
                        let start = speech_started.unwrap_or(end);
                        hooks.turn(&call.call_id, TurnRecord { role: "caller", text: transcript, start_ms: ms(start), end_ms: ms(end), interrupted: false }).await;
                        true
                    }
                    AgentIn::SpeechStarted { .. } => {
                        speech_started = Some(now);
                        let mut ok = true;
                        if speaking {
                            // The browser plays what it got; what it played is about the
                            // time since the item began.
                            let heard = u64::try_from(now.duration_since(item.1).as_millis()).unwrap_or(0).min(item.2);
                            let _ = agent.send(Message::text(AgentOut::Truncate { item_id: item.0.clone(), content_index: 0, audio_end_ms: heard }.to_json())).await;
                            if let Some(r) = recorder.as_mut() {
                                r.cut(Track::Agent, sample_now(now));
                            }
                            play_cursor = sample_now(now);
                            speaking = false;
                            ok &= say(&mut ws, json!({"type": "barge_in"})).await;
                            ok &= say(&mut ws, json!({"type": "agent_speaking", "speaking": false})).await;
                        }
                        ok
                    }
                    AgentIn::SpeechStopped { .. } => {
                        speech_stopped = Some(now);
                        true
                    }
                    AgentIn::ResponseCreated { .. } => {
                        first_in_response = true;
                        true
                    }
                    AgentIn::ResponseDone { .. } if speaking => {
                        speaking = false;
                        say(&mut ws, json!({"type": "agent_speaking", "speaking": false})).await
                    }
                    _ => true,
                };
                if !ok {
                    break "browser left";
                }
            }
            _ = clock.tick() => {
                if let Some(r) = recorder.as_mut() {
                    r.clock(sample_now(Instant::now()));
                }
            }
        }
    };
    let _ = agent.close(None).await;
    if let Some(r) = recorder {
        match r.finish().await {
            Ok(info) => hooks.recording_saved(&call.call_id, &info).await,
            Err(e) => {
                tracing::error!(call_id = %call.call_id, error = %e, "studio recording failed")
            }
        }
    }
    hooks.studio_ended(&call.call_id).await;
    Ok(result)
}
