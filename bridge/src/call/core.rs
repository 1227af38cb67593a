//! The call session as a sans-IO state machine: fed carrier frames, agent events,
//! tool results and a clock; it answers with actions (frames to send, audio to record,
//! transcript turns, tool calls, hang-ups). No sockets, no sleeps: the task around it
//! only moves bytes, and tests drive it with any clock they like.
//!
//! Timing model: the caller's audio is placed on the recording by its stream
//! timestamp; the agent's audio is generated faster than real time and queued at the
//! carrier, so it is placed where it will be *played* (a play cursor), and a Telnyx
//! `mark` after each chunk tells us how much of the current item the caller has heard.
//! On barge-in the agent is truncated to exactly that and the carrier queue is cleared.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::agent::{AgentIn, AgentOut, ToolCall};
use crate::carrier::jitter::Jitter;
use crate::carrier::media_clock::MediaClock;
use crate::carrier::{number, payload, CarrierIn, CarrierOut};
use crate::g711::Codec;

mod output;
pub use output::*;

/// An agent chunk sent to the carrier, awaiting its mark.
#[derive(Debug, Clone)]
struct Pending {
    mark: String,
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
    truncated: bool,
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

pub struct CallCore {
    config: CoreConfig,
    codec: Codec,
    answered_at: Option<Instant>,
    jitter: Jitter<(Option<u64>, String, Vec<u8>)>,
    media_clock: MediaClock,
    /// The call's clock (samples since answer) at the last carrier frame.
    now_sample: u64,
    caller_cursor: u64,
    play_cursor: Option<Instant>,
    marks: VecDeque<Pending>,
    next_mark: u64,
    item: AgentItem,
    truncated: HashSet<String>,
    pending_turns: Vec<PendingTurn>,
    speech_started_at: Option<Instant>,
    speech_stopped_at: Option<Instant>,
    awaiting_reply_since: Option<Instant>,
    first_audio_seen: bool,
    silence: Silence,
    goodbye: Option<Instant>,
    hangup_when_played: bool,
    hung_up: bool,
    ended: bool,
    agent_muted: bool,
    operator: Option<OperatorMode>,
    /// Operator audio (8 kHz) waiting for its 20 ms slot.
    operator_queue: VecDeque<i16>,
    /// Whispered operator audio in the call's codec, for the agent.
    whisper: Vec<u8>,
    /// What the caller said while a human had the call.
    human_segment: Vec<String>,
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
/// At most this much whispered audio is kept (30 s).
const WHISPER_MAX: usize = 30 * 8000;

impl CallCore {
    pub fn new(config: CoreConfig, codec: Codec) -> Self {
        let window = config.jitter_window;
        Self {
            config,
            codec,
            answered_at: None,
            jitter: Jitter::new(window),
            media_clock: MediaClock::default(),
            now_sample: 0,
            caller_cursor: 0,
            play_cursor: None,
            marks: VecDeque::new(),
            next_mark: 0,
            item: AgentItem::default(),
            truncated: HashSet::new(),
            pending_turns: Vec::new(),
            speech_started_at: None,
            speech_stopped_at: None,
            awaiting_reply_since: None,
            first_audio_seen: false,
            silence: Silence::Idle,
            goodbye: None,
            hangup_when_played: false,
            hung_up: false,
            ended: false,
            agent_muted: false,
            operator: None,
            operator_queue: VecDeque::new(),
            whisper: Vec::new(),
            human_segment: Vec::new(),
            out: VecDeque::new(),
        }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn answered(&self) -> bool {
        self.answered_at.is_some()
    }

    pub fn ended(&self) -> bool {
        self.ended
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

    pub fn poll(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When [`CallCore::tick`] must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let silence = match self.silence {
            Silence::Waiting(since, stage) => {
                Some(since + self.config.silence_timeout * (u32::from(stage) + 1))
            }
            Silence::Idle => None,
        };
        let goodbye = self.goodbye.map(|g| g + self.config.goodbye_limit);
        match (silence, goodbye) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn hangup(&mut self, reason: &'static str) {
        if !self.hung_up {
            self.hung_up = true;
            self.silence = Silence::Idle;
            self.out.push_back(Action::Hangup { reason });
        }
    }

    fn agent(&mut self, out: AgentOut) {
        self.out.push_back(Action::Agent(out));
    }

    /// A frame from the carrier.
    pub fn carrier(&mut self, frame: CarrierIn, now: Instant) {
        self.now_sample = self.sample_at(now);
        match frame {
            CarrierIn::Connected { .. } | CarrierIn::Unknown | CarrierIn::Error { .. } => {}
            CarrierIn::Start {
                start,
                sequence_number,
                ..
            } => {
                if self.answered_at.is_some() {
                    return;
                }
                if let Some(seq) = number(sequence_number.as_ref()) {
                    self.jitter.expect(seq + 1);
                }
                self.answered_at = Some(now);
                if let Some(c) = Codec::parse(&start.media_format.encoding) {
                    if c != self.codec {
                        self.codec = c;
                        self.out.push_back(Action::CodecChanged(c));
                    }
                }
                if self.config.greet {
                    self.agent(AgentOut::ResponseCreate { response: None });
                    self.awaiting_reply_since = Some(now);
                    self.silence = Silence::Waiting(now, 0);
                }
            }
            CarrierIn::Media {
                sequence_number,
                media,
                ..
            } => {
                if media.track.as_deref().is_some_and(|t| t != "inbound") {
                    return;
                }
                let Ok(bytes) = payload(&media) else {
                    self.reject(Rejection::Payload);
                    return;
                };
                let ts = number(media.timestamp.as_ref());
                let frame = (ts, media.payload, bytes);
                let released = match number(sequence_number.as_ref()) {
                    Some(seq) if !self.jitter.admits(seq) => {
                        self.reject(Rejection::Sequence);
                        return;
                    }
                    Some(seq) => self.jitter.push(seq, frame),
                    None => vec![(0, frame)],
                };
                for (_, (ts, b64, bytes)) in released {
                    self.caller_audio(ts, b64, bytes);
                }
            }
            CarrierIn::Dtmf {
                dtmf,
                sequence_number,
            } => {
                self.skip(sequence_number.as_ref());
                let text = format!("(The caller pressed {} on the phone keypad.)", dtmf.digit);
                self.agent(AgentOut::user_text(&text));
                self.agent(AgentOut::ResponseCreate { response: None });
                self.awaiting_reply_since = Some(now);
                self.silence = Silence::Waiting(now, 0);
            }
            CarrierIn::Mark {
                mark,
                sequence_number,
            } => {
                self.skip(sequence_number.as_ref());
                self.marked(&mark.name);
            }
            CarrierIn::Stop { .. } => self.end(),
        }
    }

    /// Records the agent turns whose playback is settled: cut off (interrupted, ending
    /// where the caller stopped hearing it), fully played, or everything at the end of
    /// the call (`all`; still queued audio counts as interrupted).
    fn settle_turns(&mut self, all: bool) {
        let mut keep = Vec::new();
        for t in std::mem::take(&mut self.pending_turns) {
            let current = t.item == self.item.id;
            let playing = self.marks.iter().any(|m| m.item == t.item);
            let cut = self.truncated.contains(&t.item);
            if !(cut || !playing || all) {
                keep.push(t);
                continue;
            }
            let spoken = match (current, cut || playing) {
                (true, true) => self.item.heard_ms,
                (true, false) => self.item.generated_ms,
                (false, _) => 0,
            };
            let start_ms = self.ms_at(t.start);
            self.out.push_back(Action::Turn(TurnRecord {
                role: "agent",
                text: t.text,
                start_ms,
                end_ms: start_ms + i64::try_from(spoken).unwrap_or(0),
                interrupted: cut || playing,
            }));
        }
        self.pending_turns = keep;
    }

    /// A non-media frame's sequence number: not a gap in the audio.
    fn skip(&mut self, seq: Option<&String>) {
        if let Some(seq) = number(seq) {
            for (_, (ts, b64, bytes)) in self.jitter.skip(seq) {
                self.caller_audio(ts, b64, bytes);
            }
        }
    }

    fn reject(&mut self, why: Rejection) {
        self.out.push_back(Action::Measure(Measure::Rejected(why)));
    }

    /// `b64` is the frame's payload as received: passed to the agent as is. The frame
    /// lands where its timestamp says on the call's clock (see [`MediaClock`]); one
    /// whose timestamp makes no sense is dropped.
    fn caller_audio(&mut self, ts_ms: Option<u64>, b64: String, bytes: Vec<u8>) {
        let at = match ts_ms {
            None => self.caller_cursor,
            Some(t) => match self.media_clock.place(t, self.now_sample) {
                Some(at) => at,
                None => return self.reject(Rejection::Timestamp),
            },
        };
        self.out.push_back(Action::Measure(Measure::FramesIn(1)));
        // Also during a takeover: the agent keeps listening, so it knows what was said.
        self.agent(AgentOut::Append { audio: b64 });
        self.caller_cursor = at + bytes.len() as u64;
        let audio = self.to_ulaw(&bytes);
        self.out.push_back(Action::Record {
            track: Track::Caller,
            at,
            audio,
        });
    }

    fn to_ulaw(&self, bytes: &[u8]) -> Vec<u8> {
        match self.codec {
            Codec::Pcmu => bytes.to_vec(),
            Codec::Pcma => bytes
                .iter()
                .map(|b| crate::g711::linear_to_ulaw(crate::g711::alaw_to_linear(*b)))
                .collect(),
        }
    }

    fn marked(&mut self, name: &str) {
        if !self.marks.iter().any(|p| p.mark == name) {
            return;
        }
        while let Some(p) = self.marks.pop_front() {
            if p.item == self.item.id {
                self.item.heard_ms = self.item.heard_ms.max(p.generated_ms);
            }
            if p.mark == name {
                break;
            }
        }
        self.settle_turns(false);
        if self.marks.is_empty() && self.hangup_when_played {
            self.hangup("end_call");
        }
    }

    /// The carrier is gone (stop frame or closed socket).
    pub fn end(&mut self) {
        if self.ended {
            return;
        }
        for (_, (ts, b64, bytes)) in self.jitter.flush() {
            self.caller_audio(ts, b64, bytes);
        }
        self.settle_turns(true);
        self.ended = true;
        self.silence = Silence::Idle;
    }

    /// An event from the agent.
    pub fn agent_event(&mut self, event: AgentIn, now: Instant) {
        match event {
            AgentIn::AudioDelta { item_id, delta, .. } => self.agent_audio(item_id, delta, now),
            AgentIn::SpeechStarted { .. } => {
                self.speech_started_at = Some(now);
                self.silence = Silence::Idle;
                self.barge_in(now);
            }
            AgentIn::SpeechStopped { .. } => {
                self.speech_stopped_at = Some(now);
                self.awaiting_reply_since = Some(now);
                if self.answered_at.is_some() && !self.hung_up && !self.agent_muted {
                    self.silence = Silence::Waiting(now, 0);
                }
            }
            AgentIn::InputTranscript { transcript, .. } => {
                let end = self.speech_stopped_at.unwrap_or(now);
                let start = self.speech_started_at.unwrap_or(end);
                let text = transcript.trim().to_owned();
                if !text.is_empty() && self.operator == Some(OperatorMode::Takeover) {
                    self.human_segment.push(text.clone());
                }
                if !text.is_empty() {
                    self.out.push_back(Action::Turn(TurnRecord {
                        role: "caller",
                        text,
                        start_ms: self.ms_at(start),
                        end_ms: self.ms_at(end),
                        interrupted: false,
                    }));
                }
            }
            AgentIn::TranscriptDone {
                item_id,
                transcript,
            } => {
                let text = transcript.trim().to_owned();
                if text.is_empty() {
                    return;
                }
                let item = item_id.unwrap_or_else(|| self.item.id.clone());
                let start = if item == self.item.id {
                    self.item.first_at.unwrap_or(now)
                } else {
                    now
                };
                self.pending_turns.push(PendingTurn { item, text, start });
                self.settle_turns(false);
            }
            AgentIn::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let call = ToolCall::parse(&name, &arguments);
                if call == Ok(ToolCall::EndCall) {
                    self.goodbye = Some(now);
                }
                self.silence = Silence::Idle;
                self.out.push_back(Action::Tool { call_id, call });
            }
            AgentIn::ResponseDone { .. } => {
                if self.goodbye.is_some() && !self.hangup_when_played {
                    // The goodbye after end_call: hang up once the caller heard it.
                    if self
                        .item
                        .first_at
                        .is_some_and(|t| self.goodbye.is_some_and(|g| t >= g))
                    {
                        self.hangup_when_played = true;
                        if self.marks.is_empty() {
                            self.hangup("end_call");
                        }
                    }
                }
            }
            AgentIn::ResponseCreated { .. } if self.agent_muted => {
                // A human has the call: whatever the agent starts is cancelled.
                self.agent(AgentOut::ResponseCancel);
            }
            AgentIn::SessionCreated {}
            | AgentIn::SessionUpdated {}
            | AgentIn::ResponseCreated { .. }
            | AgentIn::TranscriptDelta { .. }
            | AgentIn::Error { .. }
            | AgentIn::Other => {}
        }
    }

    /// `delta` (base64) goes to the carrier as received: same codec both ways.
    fn agent_audio(&mut self, item_id: String, delta: String, now: Instant) {
        if self.agent_muted || self.truncated.contains(&item_id) || self.answered_at.is_none() {
            return;
        }
        let Ok(bytes) = STANDARD.decode(delta.as_bytes()) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        if item_id != self.item.id {
            self.item = AgentItem {
                id: item_id.clone(),
                first_at: Some(now),
                ..AgentItem::default()
            };
        }
        if !self.first_audio_seen {
            self.first_audio_seen = true;
            if let Some(a) = self.answered_at {
                self.out.push_back(Action::Measure(Measure::FirstAudio(
                    now.saturating_duration_since(a),
                )));
            }
        }
        if let Some(since) = self.awaiting_reply_since.take() {
            if self.speech_stopped_at == Some(since) {
                self.out.push_back(Action::Measure(Measure::VoiceToVoice(
                    now.saturating_duration_since(since),
                )));
            }
        }
        self.silence = Silence::Idle;
        let ms = bytes.len() as u64 * 1000 / SAMPLE_RATE;
        self.item.generated_ms += ms;
        // Played after what is already queued at the carrier.
        let play_at = self.play_cursor.filter(|c| *c > now).unwrap_or(now);
        self.play_cursor = Some(play_at + Duration::from_millis(ms));
        let at = self.sample_at(play_at);
        let audio = self.to_ulaw(&bytes);
        self.out
            .push_back(Action::Carrier(CarrierOut::media_b64(delta)));
        self.out.push_back(Action::Measure(Measure::FramesOut(1)));
        self.next_mark += 1;
        let mark = format!("a{}", self.next_mark);
        self.out
            .push_back(Action::Carrier(CarrierOut::mark(mark.clone())));
        self.marks.push_back(Pending {
            mark,
            item: item_id,
            generated_ms: self.item.generated_ms,
        });
        self.out.push_back(Action::Record {
            track: Track::Agent,
            at,
            audio,
        });
    }

    /// Stops the agent where the caller stopped hearing it: truncate the item to the
    /// heard milliseconds (never more than generated), clear the carrier's queue, cut
    /// the recording's agent track at `now`.
    fn cut_agent(&mut self, now: Instant) {
        let heard = self.item.heard_ms.min(self.item.generated_ms);
        if !self.item.id.is_empty() {
            self.agent(AgentOut::Truncate {
                item_id: self.item.id.clone(),
                content_index: 0,
                audio_end_ms: heard,
            });
            self.truncated.insert(self.item.id.clone());
            self.item.truncated = true;
            self.item.heard_ms = heard;
        }
        self.settle_turns(false);
        self.out.push_back(Action::Carrier(CarrierOut::Clear));
        self.out.push_back(Action::RecordCut {
            track: Track::Agent,
            from: self.sample_at(now),
        });
        self.marks.clear();
        self.play_cursor = Some(now);
    }

    /// The caller started speaking: if the agent is being heard, cut it off where the
    /// caller stopped hearing it.
    fn barge_in(&mut self, now: Instant) {
        if self.marks.is_empty() {
            return;
        }
        self.cut_agent(now);
        self.hangup_when_played = false;
        let reaction = self
            .speech_started_at
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.out
            .push_back(Action::Measure(Measure::BargeIn(reaction)));
    }

    /// The result of a tool the agent called.
    pub fn tool_result(&mut self, call_id: &str, output: &Value, now: Instant) {
        self.agent(AgentOut::tool_output(call_id, output));
        self.agent(AgentOut::ResponseCreate { response: None });
        self.awaiting_reply_since = None;
        if !self.hung_up && self.goodbye.is_none() {
            self.silence = Silence::Waiting(now, 0);
        }
    }

    /// Timers: the silent agent (nudge, apology, hang-up) and the goodbye limit.
    pub fn tick(&mut self, now: Instant) {
        if let Some(g) = self.goodbye {
            if now >= g + self.config.goodbye_limit {
                self.hangup("end_call");
            }
        }
        if let Silence::Waiting(since, stage) = self.silence {
            let due = since + self.config.silence_timeout * (u32::from(stage) + 1);
            if now < due {
                return;
            }
            match stage {
                0 => {
                    self.agent(AgentOut::ResponseCreate { response: None });
                    self.silence = Silence::Waiting(since, 1);
                }
                1 => {
                    self.agent(AgentOut::ResponseCreate {
                        response: Some(json!({"instructions": "Apologise briefly for the delay and ask the person to repeat what they said."})),
                    });
                    self.silence = Silence::Waiting(since, 2);
                }
                _ => self.hangup("agent_silent"),
            }
        }
    }

    /// An operator joins: `Takeover` mutes the agent (its response cancelled, what the
    /// carrier still holds cleared, the recording's agent track cut); `Whisper` leaves
    /// the agent speaking.
    pub fn operator_joins(&mut self, mode: OperatorMode, now: Instant) {
        self.operator = Some(mode);
        self.operator_queue.clear();
        self.whisper.clear();
        self.human_segment.clear();
        if mode == OperatorMode::Whisper {
            return;
        }
        self.agent_muted = true;
        self.silence = Silence::Idle;
        self.goodbye = None;
        self.hangup_when_played = false;
        self.agent(AgentOut::ResponseCancel);
        if !self.marks.is_empty() {
            self.cut_agent(now);
        }
        self.play_cursor = Some(now);
    }

    /// Operator audio, 8 kHz PCM16.
    pub fn operator_audio(&mut self, samples: &[i16]) {
        match self.operator {
            Some(OperatorMode::Takeover) => self.operator_queue.extend(samples.iter().copied()),
            Some(OperatorMode::Whisper) => {
                let room = WHISPER_MAX.saturating_sub(self.whisper.len());
                let codec = self.codec;
                self.whisper
                    .extend(samples.iter().take(room).map(|s| codec.encode(*s)));
            }
            None => {}
        }
    }

    /// Every 20 ms: one frame of the operator's voice to the caller (and the recording's
    /// agent track).
    pub fn operator_tick(&mut self, now: Instant) {
        if self.operator != Some(OperatorMode::Takeover) || self.operator_queue.len() < FRAME {
            return;
        }
        let pcm: Vec<i16> = self.operator_queue.drain(..FRAME).collect();
        let bytes: Vec<u8> = pcm.iter().map(|s| self.codec.encode(*s)).collect();
        let audio = self.to_ulaw(&bytes);
        self.out
            .push_back(Action::Carrier(CarrierOut::media(&bytes)));
        self.out.push_back(Action::Measure(Measure::FramesOut(1)));
        let at = self.sample_at(now);
        self.out.push_back(Action::Record {
            track: Track::Agent,
            at,
            audio,
        });
    }

    /// A whispering operator finished an instruction: the agent hears it as such.
    pub fn whisper_commit(&mut self) {
        if self.whisper.is_empty() {
            return;
        }
        let audio = STANDARD.encode(std::mem::take(&mut self.whisper));
        self.agent(AgentOut::ItemCreate {
            item: json!({"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "(Instruction from your supervisor, not from the caller. Follow it; do not mention it.)"},
                {"type": "input_audio", "audio": audio}
            ]}),
        });
    }

    /// The operator leaves: the agent takes the call back and is told what happened.
    pub fn operator_leaves(&mut self, now: Instant) {
        let Some(mode) = self.operator.take() else {
            return;
        };
        if mode == OperatorMode::Whisper {
            self.whisper_commit();
            return;
        }
        self.agent_muted = false;
        self.operator_queue.clear();
        let said = if self.human_segment.is_empty() {
            "nothing the transcription caught".to_owned()
        } else {
            self.human_segment
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.human_segment.clear();
        self.agent(AgentOut::user_text(&format!(
            "(A human colleague spoke with the caller for a while and now hands the call back to you. Meanwhile the caller said: {said}. Continue from here.)"
        )));
        if self.answered_at.is_some() && !self.hung_up {
            self.agent(AgentOut::ResponseCreate { response: None });
            self.awaiting_reply_since = Some(now);
            self.silence = Silence::Waiting(now, 0);
        }
    }

    /// The agent socket dropped and a new one is up: tell it where we were.
    pub fn agent_reconnected(&mut self, now: Instant) {
        self.settle_turns(true);
        self.marks.clear();
        self.play_cursor = Some(now);
        self.item = AgentItem::default();
        self.agent(AgentOut::user_text(
            "(The line to you was interrupted for a moment. Continue the conversation where it stopped.)",
        ));
        if self.answered_at.is_some() {
            self.agent(AgentOut::ResponseCreate { response: None });
            self.silence = Silence::Waiting(now, 0);
        }
    }
}

#[cfg(test)]
mod tests;
