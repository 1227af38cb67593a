//! `/agent-stream?profile=&lang=&campaign=`: Agent Studio. The same call core as a
//! phone call (`CallCore::studio`), with the browser as the caller: browser PCM16
//! 24 kHz in, the agent's audio out at the same rate, plus the transcript, speaking,
//! barge-in and latency messages (`crate::browser::studio`). Barge-in, turns, the
//! silent-agent watch and the agent reconnect are the core's, as on the phone. The
//! session is recorded (resampled to the µ-law 8 kHz stereo of calls) and transcribed
//! as a call with direction `studio`. Tools are not carried out: the agent is told
//! they were (`end_call` ends the session after the goodbye).

use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::agent::session_update_with;
use crate::browser::studio::StudioIn;
use crate::call::agent_link::{AgentEvent, AgentLink};
use crate::call::core::{Action, CallCore, CoreConfig, Input};
use crate::hooks::{CallHooks, MediaCall, Studio};
use crate::metrics::BridgeMetrics;
use crate::recording::Recorder;
use crate::session::close;
use crate::ws::WsStream;
use crate::{MediaOptions, SessionMeta};

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

/// How often the recorder learns the session's clock.
const CLOCK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

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

pub async fn run<S>(
    mut ws: WsStream<S>,
    meta: &SessionMeta,
    hooks: Arc<dyn CallHooks>,
    options: &MediaOptions,
    metrics: &BridgeMetrics,
) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let studio = parse(&meta.query);
    let Some(cfg) = options.agent.clone() else {
        close(&mut ws, CloseCode::Again, "agent_not_configured").await;
        return Ok("refused: no agent");
    };
    let call = match hooks.studio_started(&studio).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "studio session refused");
            close(&mut ws, CloseCode::Policy, "bad_request").await;
            return Ok("refused");
        }
    };
    let format = json!({"type": "audio/pcm", "rate": 24000});
    let setup = session_update_with(&call.profile, &format, &cfg.model, &cfg.transcription_model);
    let mut agent = AgentLink::new(Some(cfg), setup);
    agent.connect();
    let path = options.recordings_dir.join(format!("{}.wav", call.call_id));
    let mut session = StudioSession {
        core: CallCore::studio(CoreConfig {
            greet: false,
            ..options.core.clone()
        }),
        agent,
        recorder: Recorder::create(&path).ok(),
        hooks,
        call,
        end: None,
    };
    session.core.handle(Input::BrowserOpened, Instant::now());
    let result = session.run(&mut ws, metrics).await;
    session.finish(ws).await;
    Ok(result)
}

struct StudioSession {
    core: CallCore,
    agent: AgentLink,
    recorder: Option<Recorder>,
    hooks: Arc<dyn CallHooks>,
    call: MediaCall,
    /// Why the session ends, once the core hung up.
    end: Option<&'static str>,
}

/// What woke the session.
enum Wake {
    Browser(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Agent(AgentEvent),
    Deadline,
    Clock,
}

impl StudioSession {
    async fn run<S>(&mut self, ws: &mut WsStream<S>, metrics: &BridgeMetrics) -> &'static str
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut clock = tokio::time::interval(CLOCK_EVERY);
        loop {
            let deadline = self.core.next_deadline();
            let wake = tokio::select! {
                msg = ws.next() => Wake::Browser(msg),
                event = self.agent.next() => Wake::Agent(event),
                () = crate::call::sleep_until(deadline) => Wake::Deadline,
                _ = clock.tick() => Wake::Clock,
            };
            let now = Instant::now();
            let input = match wake {
                Wake::Browser(msg) => match browser_input(msg, metrics) {
                    Ok(input) => input,
                    Err(why) => return why,
                },
                Wake::Agent(event) => self.agent_input(event).await,
                Wake::Deadline => Some(Input::Tick),
                Wake::Clock => {
                    if let Some(r) = self.recorder.as_mut() {
                        r.clock(self.core.sample_at(now));
                    }
                    None
                }
            };
            if let Some(input) = input {
                self.core.handle(input, now);
            }
            if !self.carry_out(ws).await {
                return "browser left";
            }
            if let Some(why) = self.end {
                let code = if why == "agent_unavailable" {
                    CloseCode::Again
                } else {
                    CloseCode::Normal
                };
                close(ws, code, why).await;
                return why;
            }
        }
    }

    async fn agent_input(&mut self, event: AgentEvent) -> Option<Input> {
        match event {
            AgentEvent::Up { .. } => {
                self.agent.set_up().await;
                Some(Input::AgentUp)
            }
            AgentEvent::Failed(e) => {
                tracing::warn!(call_id = %self.call.call_id, error = %e, "studio: agent unavailable");
                Some(Input::AgentDown)
            }
            AgentEvent::Dropped => Some(Input::AgentDown),
            AgentEvent::Unknown => None,
            AgentEvent::Event(e) => Some(Input::Agent(e)),
        }
    }

    /// Carries out what the core decided; `false` when the browser is gone.
    async fn carry_out<S>(&mut self, ws: &mut WsStream<S>) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut browser_ok = true;
        while let Some(action) = self.core.poll() {
            match action {
                Action::Browser(m) => {
                    browser_ok &= ws.feed(Message::text(m.to_json())).await.is_ok();
                }
                Action::Agent(out) => self.agent.feed(out).await,
                Action::ConnectAgent => self.agent.connect(),
                Action::Record { track, at, audio } => {
                    if let Some(r) = self.recorder.as_mut() {
                        r.audio(track, at, &audio);
                    }
                }
                Action::RecordCut { track, from } => {
                    if let Some(r) = self.recorder.as_mut() {
                        r.cut(track, from);
                    }
                }
                Action::Turn(t) => self.hooks.turn(&self.call.call_id, t).await,
                // Nothing is carried out from the Studio: the agent hears that it was.
                Action::Tool { call_id, call } => {
                    let output = match call {
                        Ok(c) => {
                            json!({"ok": true, "note": format!("Agent Studio: {} was not carried out", c.tool())})
                        }
                        Err(e) => json!({"error": e.to_string()}),
                    };
                    self.core
                        .handle(Input::ToolResult { call_id, output }, Instant::now());
                }
                Action::Hangup { reason } => self.end = Some(reason),
                Action::Carrier(_) | Action::CodecChanged(_) | Action::Measure(_) => {}
            }
        }
        browser_ok &= ws.flush().await.is_ok();
        self.agent.flush().await;
        browser_ok
    }

    async fn finish<S>(self, ws: WsStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        drop(ws);
        self.agent.close().await;
        if let Some(r) = self.recorder {
            match r.finish().await {
                Ok(info) => self.hooks.recording_saved(&self.call.call_id, &info).await,
                Err(e) => {
                    tracing::error!(call_id = %self.call.call_id, error = %e, "studio recording failed")
                }
            }
        }
        self.hooks.studio_ended(&self.call.call_id).await;
    }
}

/// What a browser message means to the core (`Err`: the browser is gone).
fn browser_input(
    msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    metrics: &BridgeMetrics,
) -> Result<Option<Input>, &'static str> {
    let text = match msg {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err("browser left"),
        Some(Ok(_)) => return Ok(None),
    };
    match StudioIn::parse(&text) {
        Ok(StudioIn::Unknown) | Err(_) => {
            metrics
                .browser_unknown
                .with_label_values(&["agent-stream"])
                .inc();
            tracing::debug!("studio: browser message of an unknown type ignored");
            Ok(None)
        }
        Ok(m) => Ok(Some(Input::Browser(m))),
    }
}
