//! The task around one call's [`CallCore`]: it authenticates the Telnyx media socket,
//! opens the agent socket while the phone rings, moves frames between the two, feeds
//! the recorder, and hands turns, tools and hang-ups to the hooks. All decisions are
//! the core's; this file only does I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::agent_link::{AgentEvent, AgentLink};
use super::core::{Action, CallCore, CoreConfig, Input, Measure, Track};
use crate::agent::client::AgentConfig;
use crate::agent::{session_update, AgentIn, AgentOut};
use crate::call::core::OperatorMode;
use crate::carrier::CarrierIn;
use crate::controls::ControlReceiver;
use crate::hooks::{CallHooks, MediaCall};
use crate::live::{Control, Level, LiveCalls, TapFeed};
use crate::metrics::BridgeMetrics;
use crate::recording::Recorder;
use crate::ws::WsStream;
use crate::SessionMeta;

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

pub async fn run<S>(
    mut ws: WsStream<S>,
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
        crate::session::close(&mut ws, CloseCode::Policy, "unknown_call").await;
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
            crate::session::close(&mut ws, CloseCode::Policy, "unauthorized").await;
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
    tap: Option<TapFeed>,
}

/// What woke the call's task.
enum Wake {
    Carrier(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Agent(AgentEvent),
    ToolDone(String, Value),
    Control(Control),
    OperatorTick,
    Deadline,
    Clock,
}

/// The call's task: the core, the sockets, the timers.
struct Session<'a> {
    core: CallCore,
    agent: AgentLink,
    io: Io<'a>,
    live: &'a LiveCalls,
    tool_rx: mpsc::UnboundedReceiver<(String, Value)>,
    /// Tool calls running: their channel is polled only then (an empty channel's poll
    /// at every wake-up was 1.2% of the appliance's CPU at 200 calls).
    tools_running: usize,
    /// Runs only while an operator speaks to the caller.
    operator_clock: Option<tokio::time::Interval>,
    clock: tokio::time::Interval,
    last_jitter: crate::carrier::jitter::JitterStats,
    announced: bool,
}

async fn bridge_call<S>(
    mut ws: WsStream<S>,
    call: MediaCall,
    hooks: Arc<dyn CallHooks>,
    options: &MediaOptions,
    metrics: &BridgeMetrics,
    live: &LiveCalls,
    mut controls: ControlReceiver,
) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let core = CallCore::new(
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
    let (tools, tool_rx) = mpsc::unbounded_channel::<(String, Value)>();
    let mut agent = AgentLink::new(options.agent.clone(), setup(&call, core.codec(), options));
    if agent.is_configured() {
        agent.connect();
    } else {
        tracing::warn!(call_id = %call.call_id, "no OpenAI key configured: the call is recorded but no agent speaks");
    }
    let tap = live.tap(&call.call_id);
    let mut session = Session {
        last_jitter: core.jitter_stats(),
        core,
        agent,
        io: Io {
            tap,
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
        },
        live,
        tool_rx,
        tools_running: 0,
        operator_clock: None,
        clock: tokio::time::interval(CLOCK_EVERY),
        announced: false,
    };
    let reason = session.run(&mut ws, &mut controls).await;
    let Session { agent, mut io, .. } = session;
    agent.close().await;
    let _ = ws.close(None).await;
    io.finish_recording().await;
    drop(io.turns);
    let _ = turn_task.await;
    Ok(reason)
}

/// The agent's `session.update` for this call in `codec`.
fn setup(call: &MediaCall, codec: crate::g711::Codec, options: &MediaOptions) -> AgentOut {
    let (model, transcription) = options
        .agent
        .as_ref()
        .map(|c| (c.model.as_str(), c.transcription_model.as_str()))
        .unwrap_or_default();
    session_update(&call.profile, codec, model, transcription)
}

impl Session<'_> {
    async fn run<S>(&mut self, ws: &mut WsStream<S>, controls: &mut ControlReceiver) -> &'static str
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let deadline = self.core.next_deadline();
            let wake = tokio::select! {
                biased;
                msg = ws.next() => Wake::Carrier(msg),
                event = self.agent.next() => Wake::Agent(event),
                Some((id, output)) = self.tool_rx.recv(), if self.tools_running > 0 => Wake::ToolDone(id, output),
                control = controls.recv() => Wake::Control(control),
                () = super::tick(self.operator_clock.as_mut()) => Wake::OperatorTick,
                () = super::sleep_until(deadline) => Wake::Deadline,
                _ = self.clock.tick() => Wake::Clock,
            };
            let now = Instant::now();
            if let Some(input) = self.input(wake, now).await {
                self.core.handle(input, now);
            }
            self.carry_out(ws).await;
            self.count_jitter();
            if !self.announced && self.core.answered() {
                self.announced = true;
                self.live.answered(&self.io.call.call_id);
            }
            if self.core.ended() {
                return "carrier ended";
            }
        }
    }

    /// What the wake-up means to the core.
    async fn input(&mut self, wake: Wake, now: Instant) -> Option<Input> {
        let metrics = self.io.metrics;
        match wake {
            Wake::Carrier(msg) => self.carrier_input(msg),
            Wake::Agent(AgentEvent::Up { waited }) => {
                metrics.agent_connect.observe(waited.as_secs_f64());
                self.agent.set_up().await;
                Some(Input::AgentUp)
            }
            Wake::Agent(AgentEvent::Failed(e)) => {
                metrics.agent_failures.with_label_values(&["connect"]).inc();
                tracing::warn!(call_id = %self.io.call.call_id, error = %e, "agent connection failed");
                Some(Input::AgentDown)
            }
            Wake::Agent(AgentEvent::Dropped) => {
                metrics.agent_failures.with_label_values(&["dropped"]).inc();
                tracing::warn!(call_id = %self.io.call.call_id, "agent socket dropped");
                Some(Input::AgentDown)
            }
            Wake::Agent(AgentEvent::Unknown) => {
                metrics.agent_events_unknown.inc();
                None
            }
            Wake::Agent(AgentEvent::Event(event)) => {
                if let AgentIn::Error { error } = &event {
                    metrics
                        .agent_failures
                        .with_label_values(&["error_event"])
                        .inc();
                    tracing::warn!(call_id = %self.io.call.call_id, error = ?error, "agent reported an error");
                }
                Some(Input::Agent(event))
            }
            Wake::ToolDone(call_id, output) => {
                self.tools_running -= 1;
                Some(Input::ToolResult { call_id, output })
            }
            Wake::Control(control) => Some(self.control_input(control)),
            Wake::OperatorTick => Some(Input::OperatorTick),
            Wake::Deadline => Some(Input::Tick),
            Wake::Clock => {
                if let Some(r) = self.io.recorder.as_mut() {
                    r.clock(self.core.sample_at(now));
                }
                let levels = (self.io.caller_level.take(), self.io.agent_level.take());
                self.live.levels(&self.io.call.call_id, levels.0, levels.1);
                None
            }
        }
    }

    fn carrier_input(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Option<Input> {
        let metrics = self.io.metrics;
        match msg {
            Some(Ok(Message::Text(text))) => match CarrierIn::parse(&text) {
                Ok(CarrierIn::Unknown) => {
                    metrics.carrier_events_unknown.inc();
                    None
                }
                Ok(CarrierIn::Error { payload }) => {
                    tracing::warn!(call_id = %self.io.call.call_id, error = ?payload, "carrier reported a stream error");
                    None
                }
                Ok(frame) => Some(Input::Carrier(frame)),
                Err(e) => {
                    metrics.dropped_malformed.inc();
                    tracing::debug!(call_id = %self.io.call.call_id, error = %e, "malformed carrier frame");
                    None
                }
            },
            Some(Ok(Message::Close(_))) | None => Some(Input::CallerGone),
            Some(Ok(Message::Binary(_))) => {
                metrics.dropped_malformed.inc();
                None
            }
            Some(Ok(_)) => None,
            Some(Err(e)) => {
                tracing::info!(call_id = %self.io.call.call_id, error = %e, "carrier socket failed");
                Some(Input::CallerGone)
            }
        }
    }

    fn control_input(&mut self, control: Control) -> Input {
        match control {
            Control::Join(mode) => {
                if mode == OperatorMode::Takeover {
                    self.operator_clock = Some(tokio::time::interval(Duration::from_millis(20)));
                }
                Input::OperatorJoins(mode)
            }
            Control::Audio(samples) => {
                if let Some(tap) = self.io.tap.as_ref() {
                    tap.operator(&samples);
                }
                Input::OperatorAudio(samples)
            }
            Control::Commit => Input::WhisperCommit,
            Control::Leave => {
                self.operator_clock = None;
                Input::OperatorLeaves
            }
        }
    }

    /// Carries out what the core decided. Carrier frames are queued and flushed once
    /// (a media frame and its mark share a write).
    async fn carry_out<S>(&mut self, ws: &mut WsStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut carrier_fed = false;
        while let Some(action) = self.core.poll() {
            match action {
                Action::Carrier(out) => {
                    carrier_fed = true;
                    if ws.feed(Message::text(out.to_json())).await.is_err() {
                        self.core.handle(Input::CallerGone, Instant::now());
                    }
                }
                Action::Agent(out) => self.agent.feed(out).await,
                Action::ConnectAgent => self.agent.connect(),
                Action::CodecChanged(codec) => {
                    let update = setup(&self.io.call, codec, self.io.options);
                    self.agent.set_setup(update).await;
                }
                other => {
                    if matches!(other, Action::Tool { .. }) {
                        self.tools_running += 1;
                    }
                    self.io.act(other, &self.core);
                }
            }
        }
        if carrier_fed && ws.flush().await.is_err() {
            self.core.handle(Input::CallerGone, Instant::now());
        }
        self.agent.flush().await;
    }

    fn count_jitter(&mut self) {
        let stats = self.core.jitter_stats();
        if stats == self.last_jitter {
            return;
        }
        let (m, last) = (self.io.metrics, self.last_jitter);
        m.dropped_late.inc_by(stats.late - last.late);
        m.dropped_lost.inc_by(stats.lost - last.lost);
        m.dropped_duplicate
            .inc_by(stats.duplicates - last.duplicates);
        m.frames_reordered.inc_by(stats.reordered - last.reordered);
        self.last_jitter = stats;
    }
}

impl Io<'_> {
    async fn finish_recording(&mut self) {
        let Some(recorder) = self.recorder.take() else {
            return;
        };
        let dropped = recorder.dropped;
        match recorder.finish().await {
            Ok(info) => {
                self.metrics.recording_bytes.inc_by(info.bytes);
                if dropped > 0 {
                    tracing::warn!(call_id = %self.call.call_id, dropped, "recording lost audio: the writer fell behind");
                }
                self.hooks.recording_saved(&self.call.call_id, &info).await;
            }
            Err(e) => tracing::error!(call_id = %self.call.call_id, error = %e, "recording failed"),
        }
    }

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
                if let Some(tap) = self.tap.as_mut() {
                    tap.audio(track, &audio);
                }
                if self.recorder.is_none() && core.answered() {
                    let path = self
                        .options
                        .recordings_dir
                        .join(format!("{}.wav", self.call.call_id));
                    match Recorder::create(&path) {
                        Ok(r) => self.recorder = Some(r),
                        Err(e) => {
                            tracing::error!(call_id = %self.call.call_id, error = %e, "cannot start the recording")
                        }
                    }
                }
                if let Some(r) = self.recorder.as_mut() {
                    if !r.audio(track, at, &audio) {
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
                if let Some(tap) = self.tap.as_mut() {
                    tap.turn(t.role, &t.text, t.interrupted);
                }
                let _ = self.turns.send(t);
            }
            Action::Tool { call_id, call } => {
                let hooks = Arc::clone(&self.hooks);
                let tools = self.tools.clone();
                let id = self.call.call_id.clone();
                tokio::spawn(async move {
                    let ran = match call {
                        Ok(c) => hooks.tool(&id, &c).await,
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
                Measure::AgentReconnected => self
                    .metrics
                    .agent_failures
                    .with_label_values(&["reconnected"])
                    .inc(),
            },
            Action::Carrier(_)
            | Action::Agent(_)
            | Action::Browser(_)
            | Action::CodecChanged(_)
            | Action::ConnectAgent => {}
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
