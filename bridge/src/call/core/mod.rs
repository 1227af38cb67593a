//! The call session as a sans-IO state machine, one for every session kind: a phone
//! call (Telnyx media frames) and an Agent Studio session (a browser as the caller)
//! run the same core, so barge-in, turn-taking, the silent-agent watch and the agent
//! reconnect exist once. It is fed one [`Input`] at a time with the time it happened,
//! and answers with [`Action`]s (frames to send, audio to record, transcript turns,
//! tool calls, hang-ups). No sockets, no sleeps: the task around it only moves bytes.
//!
//! Timing model: the caller's audio is placed on the recording by its stream
//! timestamp; the agent's audio is generated faster than real time and queued at the
//! caller's side, so it is placed where it will be *played* (a play cursor). On the
//! phone a Telnyx `mark` after each chunk tells how much of the current item the
//! caller has heard; a browser plays what it gets as it gets it. On barge-in the agent
//! is truncated to exactly what was heard and the queue is cleared.
//!
//! The files: [`caller`] (carrier frames and browser messages), [`agent`] (agent
//! events, audio, barge-in, turns, reconnect), [`operator`] (takeover and whisper),
//! [`leg`] (how each kind of caller converts audio), [`output`] (actions, config).

mod agent;
mod caller;
mod leg;
mod operator;
mod output;

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use serde_json::Value;

use crate::agent::AgentIn;
use crate::browser::studio::StudioIn;
use crate::carrier::jitter::Jitter;
use crate::carrier::media_clock::MediaClock;
use crate::carrier::CarrierIn;
use crate::g711::Codec;

pub use leg::Leg;
pub use output::*;

/// Everything that can happen to a call session.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A frame from the carrier (phone calls).
    Carrier(CarrierIn),
    /// A message from the browser (Agent Studio).
    Browser(StudioIn),
    /// The browser is connected: the session is "answered" now (Agent Studio).
    BrowserOpened,
    /// The caller's side is gone (stop frame, closed or broken socket).
    CallerGone,
    /// An event from the agent.
    Agent(AgentIn),
    /// The agent socket is up (the first time, or again after [`Input::AgentDown`]).
    AgentUp,
    /// The agent socket failed to open or dropped.
    AgentDown,
    /// The result of a tool the agent called.
    ToolResult {
        call_id: String,
        output: Value,
    },
    /// An operator joins the call.
    OperatorJoins(OperatorMode),
    /// Operator audio, 8 kHz PCM16.
    OperatorAudio(Vec<i16>),
    /// Every 20 ms while an operator has the call.
    OperatorTick,
    /// A whispering operator finished an instruction.
    WhisperCommit,
    OperatorLeaves,
    /// A timer the core asked for ([`CallCore::next_deadline`]) is due.
    Tick,
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the answer (the phone rings; Studio: the browser is not open yet).
    Ringing,
    /// Answered: audio flows both ways.
    Live,
    /// We asked for the hang-up; the caller's side has not closed yet.
    HangingUp,
    /// The caller's side is gone.
    Ended,
}

/// How often a call's agent socket may be reopened.
const AGENT_RECONNECTS: u8 = 1;

/// An agent chunk sent to the caller's side, awaiting its mark.
#[derive(Debug, Clone)]
struct Pending {
    /// The mark's number: it is named `a<number>` on the wire.
    mark: u64,
    item: String,
    /// Milliseconds of the item generated up to and including this chunk.
    generated_ms: u64,
}

#[derive(Debug, Default)]
struct AgentItem {
    id: String,
    generated_ms: u64,
    heard_ms: u64,
    first_at: Option<Instant>,
}

/// An agent turn whose text is known but whose playback is not settled yet: it is
/// recorded once the caller heard all of it, was cut off, or the call ended.
#[derive(Debug, Clone)]
struct PendingTurn {
    item: String,
    text: String,
    start: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silence {
    Idle,
    /// Waiting for the agent since this instant; stage 0, 1, 2.
    Waiting(Instant, u8),
}

/// The agent called `end_call`: its goodbye is being said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Goodbye {
    since: Instant,
    /// The goodbye response is complete: hang up once the caller heard it.
    said: bool,
}

/// The agent's audio on its way to the caller: where it will be played, what the
/// caller heard of the current item, what was cut.
#[derive(Debug, Default)]
struct Playback {
    play_cursor: Option<Instant>,
    /// Chunks sent to the carrier, awaiting their mark.
    marks: VecDeque<Pending>,
    next_mark: u64,
    item: AgentItem,
    /// The agent is being heard (Studio: between its first audio and the end of the
    /// response or a barge-in).
    speaking: bool,
    /// The current response has sent audio already.
    response_audio: bool,
    truncated: HashSet<String>,
}

/// An operator on the call, if any.
#[derive(Debug, Default)]
struct Operator {
    mode: Option<OperatorMode>,
    /// Operator audio (8 kHz) waiting for its 20 ms slot.
    queue: VecDeque<i16>,
    /// Whispered operator audio in the call's codec, for the agent.
    whisper: Vec<u8>,
    /// What the caller said while a human had the call.
    human_segment: Vec<String>,
}

pub struct CallCore {
    config: CoreConfig,
    leg: Leg,
    codec: Codec,
    phase: Phase,
    /// The call's clock starts at the answer.
    answered_at: Option<Instant>,
    jitter: Jitter<(Option<u64>, String, Vec<u8>)>,
    media_clock: MediaClock,
    /// The call's clock (samples since answer) at the last caller frame.
    now_sample: u64,
    caller_cursor: u64,
    /// The agent's audio on its way to the caller.
    play: Playback,
    pending_turns: Vec<PendingTurn>,
    speech_started_at: Option<Instant>,
    speech_stopped_at: Option<Instant>,
    awaiting_reply_since: Option<Instant>,
    first_audio_seen: bool,
    silence: Silence,
    goodbye: Option<Goodbye>,
    reconnects_left: u8,
    operator: Operator,
    out: VecDeque<Action>,
}

/// How an operator is on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorMode {
    /// The operator speaks to the caller; the agent is muted.
    Takeover,
    /// The operator speaks to the agent only.
    Whisper,
}

/// 20 ms at 8 kHz.
pub const FRAME: usize = 160;

impl CallCore {
    /// A phone call set up with `codec` (the `start` frame may still correct it).
    pub fn new(config: CoreConfig, codec: Codec) -> Self {
        Self::with_leg(config, Leg::Phone, codec)
    }

    /// An Agent Studio session: the browser is the caller.
    pub fn studio(config: CoreConfig) -> Self {
        Self::with_leg(config, Leg::browser(), Codec::Pcmu)
    }

    fn with_leg(config: CoreConfig, leg: Leg, codec: Codec) -> Self {
        let window = config.jitter_window;
        Self {
            config,
            leg,
            codec,
            phase: Phase::Ringing,
            answered_at: None,
            jitter: Jitter::new(window),
            media_clock: MediaClock::default(),
            now_sample: 0,
            caller_cursor: 0,
            play: Playback::default(),
            pending_turns: Vec::new(),
            speech_started_at: None,
            speech_stopped_at: None,
            awaiting_reply_since: None,
            first_audio_seen: false,
            silence: Silence::Idle,
            goodbye: None,
            reconnects_left: AGENT_RECONNECTS,
            operator: Operator::default(),
            out: VecDeque::new(),
        }
    }

    /// Feeds one input that happened at `now`; the answers wait in [`CallCore::poll`].
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Carrier(frame) => self.carrier(frame, now),
            Input::Browser(message) => self.browser(message, now),
            Input::BrowserOpened => self.answer(now),
            Input::CallerGone => self.end(),
            Input::Agent(event) => self.agent_event(event, now),
            Input::AgentUp => self.agent_up(now),
            Input::AgentDown => self.agent_down(),
            Input::ToolResult { call_id, output } => self.tool_result(&call_id, &output, now),
            Input::OperatorJoins(mode) => self.operator_joins(mode, now),
            Input::OperatorAudio(samples) => self.operator_audio(&samples),
            Input::OperatorTick => self.operator_tick(now),
            Input::WhisperCommit => self.whisper_commit(),
            Input::OperatorLeaves => self.operator_leaves(now),
            Input::Tick => self.tick(now),
        }
    }

    pub fn poll(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn answered(&self) -> bool {
        self.answered_at.is_some()
    }

    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    pub fn jitter_stats(&self) -> crate::carrier::jitter::JitterStats {
        self.jitter.stats
    }

    /// Samples since answer at `now`.
    pub fn sample_at(&self, now: Instant) -> u64 {
        self.answered_at.map_or(0, |a| {
            let us = now.saturating_duration_since(a).as_micros();
            u64::try_from(us * u128::from(SAMPLE_RATE) / 1_000_000).unwrap_or(u64::MAX)
        })
    }

    fn ms_at(&self, now: Instant) -> i64 {
        self.answered_at.map_or(0, |a| {
            i64::try_from(now.saturating_duration_since(a).as_millis()).unwrap_or(i64::MAX)
        })
    }

    /// When [`Input::Tick`] is due next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let silence = match self.silence {
            Silence::Waiting(since, stage) => {
                Some(since + self.config.silence_timeout * (u32::from(stage) + 1))
            }
            Silence::Idle => None,
        };
        let goodbye = self.goodbye.map(|g| g.since + self.config.goodbye_limit);
        match (silence, goodbye) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The session is answered now: the call's clock starts, and the agent greets when
    /// the call is set up to.
    fn answer(&mut self, now: Instant) {
        if self.answered_at.is_some() {
            return;
        }
        self.answered_at = Some(now);
        if self.phase == Phase::Ringing {
            self.phase = Phase::Live;
        }
        if self.config.greet {
            self.ask_agent(now);
        }
    }

    /// Asks the agent to speak now and starts waiting for it.
    fn ask_agent(&mut self, now: Instant) {
        self.agent(crate::agent::AgentOut::ResponseCreate { response: None });
        self.awaiting_reply_since = Some(now);
        self.silence = Silence::Waiting(now, 0);
    }

    fn hangup(&mut self, reason: &'static str) {
        if matches!(self.phase, Phase::Ringing | Phase::Live) {
            self.phase = Phase::HangingUp;
            self.silence = Silence::Idle;
            self.out.push_back(Action::Hangup { reason });
        }
    }

    fn agent(&mut self, out: crate::agent::AgentOut) {
        self.out.push_back(Action::Agent(out));
    }

    fn agent_muted(&self) -> bool {
        self.operator.mode == Some(OperatorMode::Takeover)
    }

    /// The caller's side is gone (stop frame or closed socket).
    fn end(&mut self) {
        if self.phase == Phase::Ended {
            return;
        }
        self.jitter.flush();
        self.caller_ready();
        self.settle_turns(true);
        self.phase = Phase::Ended;
        self.silence = Silence::Idle;
    }

    /// Timers: the silent agent (nudge, apology, hang-up) and the goodbye limit.
    fn tick(&mut self, now: Instant) {
        if let Some(g) = self.goodbye {
            if now >= g.since + self.config.goodbye_limit {
                self.hangup("end_call");
            }
        }
        let Silence::Waiting(since, stage) = self.silence else {
            return;
        };
        let due = since + self.config.silence_timeout * (u32::from(stage) + 1);
        if now < due {
            return;
        }
        match stage {
            0 => {
                self.agent(crate::agent::AgentOut::ResponseCreate { response: None });
                self.silence = Silence::Waiting(since, 1);
            }
            1 => {
                self.agent(crate::agent::AgentOut::ResponseCreate {
                    response: Some(serde_json::json!({"instructions": "Apologise briefly for the delay and ask the person to repeat what they said."})),
                });
                self.silence = Silence::Waiting(since, 2);
            }
            _ => self.hangup("agent_silent"),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_studio;
