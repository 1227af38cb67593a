//! The task around one call's [`CallCore`]: it authenticates the Telnyx media socket,
//! opens the agent socket while the phone rings, moves frames between the two, feeds
//! the recorder, and hands turns, tools and hang-ups to the hooks. All decisions are
//! the core's; this file only does I/O.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::core::{Action, CallCore, CoreConfig, Measure, Track};
use crate::agent::client::{connect, AgentConfig, AgentSocket};
use crate::agent::{session_update, AgentIn, AgentOut, ToolError};
use crate::call::core::OperatorMode;
use crate::carrier::CarrierIn;
use crate::hooks::{CallHooks, MediaCall};
use crate::live::{Control, Level, LiveCalls, Tap};
use crate::metrics::BridgeMetrics;
use crate::recording::Recorder;
use crate::SessionMeta;

/// Agent messages kept while its socket is (re)connecting.
const AGENT_BACKLOG: usize = 256;
/// How often the recorder learns the call's clock.
const CLOCK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// `None`: no OpenAI key; calls are recorded but nobody speaks.
    pub agent: Option<AgentConfig>,
    pub recordings_dir: PathBuf,
    pub core: CoreConfig,
}

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

/// `call=<id>` from the upgrade's query string.
pub fn call_id(query: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "call"
            && !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| v.to_owned())
    })
}

/// The agent side: connected or connecting, with what waits for it.
struct Agent {
    socket: Option<AgentSocket>,
    backlog: VecDeque<AgentOut>,
    reconnects_left: u8,
    connecting_since: Option<Instant>,
}

async fn close_policy<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    reason: &'static str,
) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: reason.into(),
        }))
        .await;
}

pub async fn run<S>(
    mut ws: WebSocketStream<S>,
    meta: &SessionMeta,
    hooks: Arc<dyn CallHooks>,
    options: &MediaOptions,
    metrics: &BridgeMetrics,
    live: &LiveCalls,
) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(id) = call_id(&meta.query) else {
        metrics
            .media_auth_failures
            .with_label_values(&["unknown_call"])
            .inc();
        tracing::warn!(request_id = %meta.request_id, "media stream without a call id refused");
        close_policy(&mut ws, "unknown_call").await;
        return Ok("refused: no call id");
    };
    let call = match hooks
        .authorize_media(&id, meta.stream_token.as_deref())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            metrics
                .media_auth_failures
                .with_label_values(&[e.label()])
                .inc();
            // The call id only: never the token.
            tracing::warn!(call_id = %id, reason = e.label(), "media stream refused");
            close_policy(&mut ws, "unauthorized").await;
            return Ok("refused: unauthorized");
        }
    };
    metrics.calls_active.inc();
    let controls = live.start(&call.call_id);
    let call_id = call.call_id.clone();
    let result = bridge_call(ws, call, hooks, options, metrics, live, controls).await;
    live.end(&call_id);
    metrics.calls_active.dec();
    result
}

struct Io<'a> {
    call: MediaCall,
    hooks: Arc<dyn CallHooks>,
    options: &'a MediaOptions,
    metrics: &'a BridgeMetrics,
    recorder: Option<Recorder>,
    turns: mpsc::UnboundedSender<super::core::TurnRecord>,
    tools: mpsc::UnboundedSender<(String, Value)>,
    hung_up: bool,
    caller_level: Level,
    agent_level: Level,
    tap: Option<tokio::sync::broadcast::Sender<Tap>>,
}

async fn bridge_call<S>(
    mut ws: WebSocketStream<S>,
    call: MediaCall,
    hooks: Arc<dyn CallHooks>,
    options: &MediaOptions,
    metrics: &BridgeMetrics,
    live: &LiveCalls,
    mut controls: mpsc::UnboundedReceiver<Control>,
) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut announced = false;
    // Runs only while an operator speaks to the caller.
    let mut operator_clock: Option<tokio::time::Interval> = None;
    let mut core = CallCore::new(
        CoreConfig {
            greet: call.greet && options.core.greet,
            ..options.core.clone()
        },
        call.codec,
    );
    // Turns are stored in order, off the media path.
    let (turns, mut turn_rx) = mpsc::unbounded_channel();
    let turn_hooks = Arc::clone(&hooks);
    let turn_call = call.call_id.clone();
    let turn_task = tokio::spawn(async move {
        while let Some(t) = turn_rx.recv().await {
            turn_hooks.turn(&turn_call, t).await;
        }
    });
    let (tools, mut tool_rx) = mpsc::unbounded_channel::<(String, Value)>();
    let mut io = Io {
        tap: None,
        call,
        hooks,
        options,
        metrics,
        recorder: None,
        turns,
        tools,
        hung_up: false,
        caller_level: Level::default(),
        agent_level: Level::default(),
    };
    let mut agent = Agent {
        socket: None,
        backlog: VecDeque::new(),
        reconnects_left: 1,
        connecting_since: None,
    };
    let mut connecting = match &options.agent {
        Some(cfg) => {
            agent.connecting_since = Some(Instant::now());
            Some(Box::pin(connect(cfg)))
        }
        None => {
            tracing::warn!(call_id = %io.call.call_id, "no OpenAI key configured: the call is recorded but no agent speaks");
            None
        }
    };
    io.tap = live.tap(&io.call.call_id);
    let mut clock = tokio::time::interval(CLOCK_EVERY);
    let mut last_jitter = core.jitter_stats();
    let reason = loop {
        let deadline = core.next_deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            msg = ws.next() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => match CarrierIn::parse(&text) {
                        Ok(CarrierIn::Unknown) => metrics.carrier_events_unknown.inc(),
                        Ok(CarrierIn::Error { payload }) => {
                            tracing::warn!(call_id = %io.call.call_id, error = ?payload, "carrier reported a stream error");
                        }
                        Ok(frame) => core.carrier(frame, now),
                        Err(e) => {
                            metrics.dropped_malformed.inc();
                            tracing::debug!(call_id = %io.call.call_id, error = %e, "malformed carrier frame");
                        }
                    },
                    Some(Ok(Message::Close(_))) | None => core.end(),
                    Some(Ok(Message::Binary(_))) => metrics.dropped_malformed.inc(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::info!(call_id = %io.call.call_id, error = %e, "carrier socket failed");
                        core.end();
                    }
                }
            }
            connected = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                connecting = None;
                let now = Instant::now();
                match connected {
                    Ok(mut socket) => {
                        if let Some(since) = agent.connecting_since.take() {
                            metrics.agent_connect.observe(since.elapsed().as_secs_f64());
                        }
                        let cfg = options.agent.as_ref().expect("connecting needs a config");
                        let setup = session_update(&io.call.profile, core.codec(), &cfg.model, &cfg.transcription_model);
                        let mut ok = socket.send(Message::text(setup.to_json())).await.is_ok();
                        if agent.reconnects_left == 0 {
                            core.agent_reconnected(now);
                            metrics.agent_failures.with_label_values(&["reconnected"]).inc();
                        }
                        while ok {
                            let Some(m) = agent.backlog.pop_front() else { break };
                            ok = socket.send(Message::text(m.to_json())).await.is_ok();
                        }
                        agent.socket = Some(socket);
                    }
                    Err(e) => {
                        metrics.agent_failures.with_label_values(&["connect"]).inc();
                        tracing::warn!(call_id = %io.call.call_id, error = %e, "agent connection failed");
                        if agent.reconnects_left > 0 {
                            agent.reconnects_left -= 1;
                            agent.connecting_since = Some(now);
                            connecting = options.agent.as_ref().map(|c| Box::pin(connect(c)));
                        } else {
                            io.hangup("agent_unavailable");
                        }
                    }
                }
            }
            msg = async { agent.socket.as_mut().expect("guarded").next().await }, if agent.socket.is_some() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => match AgentIn::parse(&text) {
                        Ok(AgentIn::Other) => metrics.agent_events_unknown.inc(),
                        Ok(event) => {
                            if let AgentIn::Error { error } = &event {
                                metrics.agent_failures.with_label_values(&["error_event"]).inc();
                                tracing::warn!(call_id = %io.call.call_id, error = ?error, "agent reported an error");
                            }
                            core.agent_event(event, now);
                        }
                        Err(_) => metrics.agent_events_unknown.inc(),
                    },
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        agent.socket = None;
                        metrics.agent_failures.with_label_values(&["dropped"]).inc();
                        if core.ended() {
                            // Nothing to reconnect for.
                        } else if agent.reconnects_left > 0 && options.agent.is_some() {
                            tracing::warn!(call_id = %io.call.call_id, "agent socket dropped; reconnecting once");
                            agent.reconnects_left -= 1;
                            agent.connecting_since = Some(now);
                            connecting = options.agent.as_ref().map(|c| Box::pin(connect(c)));
                        } else {
                            tracing::warn!(call_id = %io.call.call_id, "agent socket dropped again; hanging up");
                            io.hangup("agent_unavailable");
                        }
                    }
                }
            }
            Some((call_id, output)) = tool_rx.recv() => core.tool_result(&call_id, &output, Instant::now()),
            Some(control) = controls.recv() => {
                let now = Instant::now();
                match control {
                    Control::Join(mode) => {
                        core.operator_joins(mode, now);
                        if mode == OperatorMode::Takeover {
                            operator_clock = Some(tokio::time::interval(Duration::from_millis(20)));
                        }
                    }
                    Control::Audio(samples) => {
                        if let Some(tap) = io.tap.as_ref().filter(|t| t.receiver_count() > 0) {
                            let _ = tap.send(Tap::Audio { track: "operator", samples: Arc::new(samples.clone()) });
                        }
                        core.operator_audio(&samples);
                    }
                    Control::Commit => core.whisper_commit(),
                    Control::Leave => {
                        operator_clock = None;
                        core.operator_leaves(now);
                    }
                }
            }
            _ = async { operator_clock.as_mut().expect("guarded").tick().await }, if operator_clock.is_some() => {
                core.operator_tick(Instant::now());
            }
            () = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                core.tick(Instant::now());
            }
            _ = clock.tick() => {
                if let Some(r) = io.recorder.as_mut() {
                    r.clock(core.sample_at(Instant::now()));
                }
                live.levels(&io.call.call_id, io.caller_level.take(), io.agent_level.take());
            }
        }
        // Carry out what the core decided.
        let (mut carrier_fed, mut agent_fed) = (false, false);
        while let Some(action) = core.poll() {
            match action {
                // Queued, then flushed once below: a media frame and its mark share a
                // write.
                Action::Carrier(out) => {
                    carrier_fed = true;
                    if ws.feed(Message::text(out.to_json())).await.is_err() {
                        core.end();
                    }
                }
                Action::Agent(out) => {
                    let sent = match agent.socket.as_mut() {
                        Some(s) => {
                            agent_fed = true;
                            s.feed(Message::text(out.to_json())).await.is_ok()
                        }
                        None => {
                            if agent.backlog.len() < AGENT_BACKLOG
                                || !matches!(out, AgentOut::Append { .. })
                            {
                                agent.backlog.push_back(out);
                            }
                            true
                        }
                    };
                    // A failed write is noticed (and reconnected) by the read side.
                    let _ = sent;
                }
                Action::CodecChanged(codec) => {
                    if let (Some(s), Some(cfg)) = (agent.socket.as_mut(), options.agent.as_ref()) {
                        let update = session_update(
                            &io.call.profile,
                            codec,
                            &cfg.model,
                            &cfg.transcription_model,
                        );
                        let _ = s.send(Message::text(update.to_json())).await;
                    }
                }
                other => io.act(other, &core),
            }
        }
        if carrier_fed && ws.flush().await.is_err() {
            core.end();
        }
        if agent_fed {
            if let Some(a) = agent.socket.as_mut() {
                // A broken agent socket is noticed (and reconnected) by its read side.
                let _ = a.flush().await;
            }
        }
        let stats = core.jitter_stats();
        if stats != last_jitter {
            metrics.dropped_late.inc_by(stats.late - last_jitter.late);
            metrics.dropped_lost.inc_by(stats.lost - last_jitter.lost);
            metrics
                .dropped_duplicate
                .inc_by(stats.duplicates - last_jitter.duplicates);
            metrics
                .frames_reordered
                .inc_by(stats.reordered - last_jitter.reordered);
            last_jitter = stats;
        }
        if !announced && core.answered() {
            announced = true;
            live.answered(&io.call.call_id);
        }
        if core.ended() {
            break "carrier ended";
        }
    };
    if let Some(mut s) = agent.socket.take() {
        let _ = s.close(None).await;
    }
    let _ = ws.close(None).await;
    if let Some(recorder) = io.recorder.take() {
        let dropped = recorder.dropped;
        match recorder.finish().await {
            Ok(info) => {
                metrics.recording_bytes.inc_by(info.bytes);
                if dropped > 0 {
                    tracing::warn!(call_id = %io.call.call_id, dropped, "recording lost audio: the writer fell behind");
                }
                io.hooks.recording_saved(&io.call.call_id, &info).await;
            }
            Err(e) => tracing::error!(call_id = %io.call.call_id, error = %e, "recording failed"),
        }
    }
    drop(io.turns);
    let _ = turn_task.await;
    Ok(reason)
}

impl Io<'_> {
    fn hangup(&mut self, reason: &'static str) {
        if self.hung_up {
            return;
        }
        self.hung_up = true;
        self.metrics.hangups.with_label_values(&[reason]).inc();
        let hooks = Arc::clone(&self.hooks);
        let id = self.call.call_id.clone();
        tokio::spawn(async move { hooks.hangup(&id, reason).await });
    }

    fn act(&mut self, action: Action, core: &CallCore) {
        match action {
            Action::Record { track, at, audio } => {
                match track {
                    Track::Caller => self.caller_level.add_ulaw(&audio),
                    Track::Agent => self.agent_level.add_ulaw(&audio),
                }
                if let Some(tap) = self.tap.as_ref().filter(|t| t.receiver_count() > 0) {
                    let samples = audio
                        .iter()
                        .map(|b| crate::g711::ulaw_to_linear(*b))
                        .collect();
                    let track = match track {
                        Track::Caller => "caller",
                        Track::Agent => "agent",
                    };
                    let _ = tap.send(Tap::Audio {
                        track,
                        samples: Arc::new(samples),
                    });
                }
                if self.recorder.is_none() && core.answered() {
                    let path = self
                        .options
                        .recordings_dir
                        .join(format!("{}.wav", self.call.call_id));
                    match Recorder::create(&path) {
                        Ok(r) => self.recorder = Some(r),
                        Err(e) => {
                            tracing::error!(call_id = %self.call.call_id, error = %e, "cannot create the recording")
                        }
                    }
                }
                if let Some(r) = self.recorder.as_mut() {
                    if !r.audio(track, at, audio) {
                        self.metrics.recording_dropped.inc();
                    }
                }
            }
            Action::RecordCut { track, from } => {
                if let Some(r) = self.recorder.as_mut() {
                    r.cut(track, from);
                }
            }
            Action::Turn(t) => {
                if let Some(tap) = self.tap.as_ref().filter(|t| t.receiver_count() > 0) {
                    let _ = tap.send(Tap::Turn {
                        role: t.role,
                        text: t.text.clone(),
                        interrupted: t.interrupted,
                    });
                }
                let _ = self.turns.send(t);
            }
            Action::Tool { call_id, call } => {
                let hooks = Arc::clone(&self.hooks);
                let tools = self.tools.clone();
                let id = self.call.call_id.clone();
                let enabled = self.call.profile.tools.clone();
                tokio::spawn(async move {
                    let ran = match call {
                        Ok(c) if enabled.contains(&c.tool()) => hooks.tool(&id, &c).await,
                        Ok(c) => Err(ToolError::NotEnabled(c.tool())),
                        Err(e) => Err(e),
                    };
                    let output = match ran {
                        Ok(v) => v,
                        Err(e) => json!({"error": e.to_string()}),
                    };
                    let _ = tools.send((call_id, output));
                });
            }
            Action::Hangup { reason } => self.hangup(reason),
            Action::Measure(m) => match m {
                Measure::FirstAudio(d) => self.metrics.first_audio.observe(d.as_secs_f64()),
                Measure::VoiceToVoice(d) => self.metrics.voice_to_voice.observe(d.as_secs_f64()),
                Measure::BargeIn(d) => {
                    self.metrics.barge_ins.inc();
                    self.metrics.barge_in_clear.observe(d.as_secs_f64());
                }
                Measure::FramesIn(n) => self.metrics.frames_in.inc_by(n),
                Measure::FramesOut(n) => self.metrics.frames_out.inc_by(n),
                Measure::Rejected(why) => self.metrics.rejected(why),
            },
            Action::Carrier(_) | Action::Agent(_) | Action::CodecChanged(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_come_only_from_the_call_parameter() {
        assert_eq!(
            call_id("call=6b05194bc38f6a36f9f9a1f7"),
            Some("6b05194bc38f6a36f9f9a1f7".into())
        );
        assert_eq!(call_id("x=1&call=abc&token=t"), Some("abc".into()));
        assert_eq!(call_id("call=../../etc"), None);
        assert_eq!(call_id("call="), None);
        assert_eq!(call_id("room=abc"), None);
    }
}
