//! `/operator-bridge?room=<call id>&rate=48000&mode=takeover|whisper&operator=<name>`:
//! an operator takes a live call over with their microphone (the seed's admin page).
//!
//! While the socket is open the agent is muted (its response cancelled, queued audio
//! cleared) and the operator's PCM16 (`{"type":"audio","audio":<base64>}` or binary
//! frames, at `rate`) is resampled to 8 kHz, encoded to the call's codec and paced at
//! 20 ms to the caller; the operator hears the caller and the agent like a listener and
//! gets `{"type":"mic_level","rms"}` for each chunk sent. Closing hands the call back to
//! the agent with what the caller said meanwhile. `mode=whisper` speaks to the agent
//! only: the audio reaches it as a supervisor's instruction (on `{"type":"commit"}` or
//! when the socket closes). One operator per call: a second one is closed with 4409
//! `call_already_taken`. Every takeover and whisper is audited.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::browser::listen::{rounded, ListenOut, OperatorIn};
use crate::call::core::OperatorMode;
use crate::controls::ControlSender;
use crate::live::{ClaimError, Control, Tap};
use crate::monitor::Listen;
use crate::resample::Resampler;
use crate::session::close;
use crate::ws::WsStream;
use crate::SessionMeta;

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|s| (f64::from(*s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// What the operator hears and sees is skipped while their socket is backed up: a
/// stalled page must not stall the takeover (their microphone is read meanwhile).
const SEND_DEADLINE: std::time::Duration = std::time::Duration::from_millis(200);

async fn offer<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WsStream<S>, m: Message) -> bool {
    match tokio::time::timeout(SEND_DEADLINE, ws.send(m)).await {
        Ok(r) => r.is_ok(),
        Err(_) => true,
    }
}

/// Claims the call for this operator (one per call) and audits it.
async fn join<S>(
    ws: &mut WsStream<S>,
    meta: &SessionMeta,
    bridge: &crate::Bridge,
) -> Result<(Listen, OperatorMode, ControlSender), &'static str>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let listen = match crate::monitor::parse(&meta.query) {
        Ok(l) => l,
        Err(reason) => {
            close(ws, CloseCode::Policy, reason).await;
            return Err("refused");
        }
    };
    let mode = if meta.query.split('&').any(|kv| kv == "mode=whisper") {
        OperatorMode::Whisper
    } else {
        OperatorMode::Takeover
    };
    let actor = meta.actor.or_named(&listen.operator);
    let listen = Listen {
        operator: actor.label.clone(),
        ..listen
    };
    let control = match bridge.live().claim(&listen.call_id, &listen.operator) {
        Ok(c) => c,
        Err(ClaimError::NoCall) => {
            close(ws, CloseCode::Policy, "unknown_call").await;
            return Err("refused: unknown call");
        }
        Err(ClaimError::Taken(by)) => {
            tracing::info!(call_id = %listen.call_id, operator = %listen.operator, taken_by = %by, "takeover refused: call already taken");
            close(ws, CloseCode::Library(4409), "call_already_taken").await;
            return Err("refused: already taken");
        }
    };
    let action = if mode == OperatorMode::Whisper {
        "call.whisper"
    } else {
        "call.takeover"
    };
    if let Some(hooks) = bridge.hooks() {
        // Before the operator's first word reaches the call, or the agent is muted.
        crate::hooks::audit_first(hooks, actor, action, &listen.call_id).await;
    }
    tracing::info!(call_id = %listen.call_id, operator = %listen.operator, action, "operator joined");
    Ok((listen, mode, control))
}

/// Hands the call back to the agent and audits the end.
fn leave(
    bridge: &crate::Bridge,
    actor: &crate::Actor,
    listen: &Listen,
    mode: OperatorMode,
    control: &ControlSender,
    result: &'static str,
) {
    let _ = control.send(Control::Leave);
    bridge.live().release(&listen.call_id);
    tracing::info!(call_id = %listen.call_id, operator = %listen.operator, result, "operator left; the agent has the call again");
    if let Some(hooks) = bridge.hooks() {
        // `listen.operator` is the name `join` resolved.
        let actor = crate::Actor {
            label: listen.operator.clone(),
            ..actor.clone()
        };
        let id = listen.call_id.clone();
        let end = if mode == OperatorMode::Whisper {
            "call.whisper.end"
        } else {
            "call.takeover.end"
        };
        tokio::spawn(async move { hooks.audit(&actor, end, &id).await });
    }
}

pub async fn run<S>(mut ws: WsStream<S>, meta: &SessionMeta, bridge: &crate::Bridge) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (listen, mode, control) = match join(&mut ws, meta, bridge).await {
        Ok(joined) => joined,
        Err(refused) => return Ok(refused),
    };
    let _ = control.send(Control::Join(mode));
    let mut tap = bridge.live().listen_frames(&listen.call_id);
    let mut to_8k = Resampler::new(listen.rate, 8000, 16);
    let mut caller_out = Resampler::new(8000, listen.rate, 16);
    let mut agent_out = Resampler::new(8000, listen.rate, 16);
    let result = loop {
        tokio::select! {
            msg = ws.next() => {
                let pcm = match msg {
                    Some(Ok(Message::Binary(b))) => samples(&b),
                    Some(Ok(Message::Text(t))) => match OperatorIn::parse(&t) {
                        Ok(OperatorIn::Audio { audio }) => STANDARD
                            .decode(audio)
                            .map(|b| samples(&b))
                            .unwrap_or_default(),
                        Ok(OperatorIn::Commit) => {
                            let _ = control.send(Control::Commit);
                            continue;
                        }
                        Ok(OperatorIn::Unknown) | Err(_) => {
                            bridge.metrics().browser_unknown.with_label_values(&["operator-bridge"]).inc();
                            continue;
                        }
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break "operator left",
                    Some(Ok(_)) => continue,
                };
                if pcm.is_empty() {
                    continue;
                }
                let level = rounded(rms(&pcm));
                if control.send(Control::Audio(to_8k.process(&pcm))).is_err() {
                    break "call ended";
                }
                if !offer(&mut ws, Message::text(ListenOut::MicLevel { rms: level }.to_json())).await {
                    break "operator left";
                }
            }
            Some(event) = async { match tap.as_mut() { Some(t) => Some(t.recv().await), None => std::future::pending().await } } => {
                match event {
                    Ok(Tap::Audio { track, samples }) if track != "operator" => {
                        let r = if track == "caller" { &mut caller_out } else { &mut agent_out };
                        let mut bytes = Vec::with_capacity(samples.len() * 12);
                        for s in r.process(&samples) {
                            bytes.extend_from_slice(&s.to_le_bytes());
                        }
                        let frame = ListenOut::Audio { track, audio: STANDARD.encode(&bytes) };
                        if !offer(&mut ws, Message::text(frame.to_json())).await {
                            break "operator left";
                        }
                    }
                    Ok(Tap::Turn { role, text, interrupted }) => {
                        let frame = ListenOut::Transcript { role, text, interrupted };
                        if !offer(&mut ws, Message::text(frame.to_json())).await {
                            break "operator left";
                        }
                    }
                    Ok(Tap::Audio { .. }) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        close(&mut ws, CloseCode::Normal, "call_ended").await;
                        break "call ended";
                    }
                }
            }
        }
    };
    drop(tap);
    leave(bridge, &meta.actor, &listen, mode, &control, result);
    Ok(result)
}
