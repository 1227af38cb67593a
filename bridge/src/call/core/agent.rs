//! The agent's side: its events (audio, speech started and stopped, transcripts,
//! tool calls, responses), where its audio is played and recorded, barge-in (once,
//! for phone and browser alike), the transcript turns, and the socket's reconnect.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::{
    Action, AgentItem, CallCore, Goodbye, Measure, Pending, PendingTurn, Phase, Silence, Track,
    TurnRecord, AGENT_RECONNECTS,
};
use crate::agent::{AgentIn, AgentOut, ToolCall};
use crate::browser::studio::StudioOut;
use crate::carrier::CarrierOut;

impl CallCore {
    /// An event from the agent.
    pub(super) fn agent_event(&mut self, event: AgentIn, now: Instant) {
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
                if self.phase == Phase::Live && !self.agent_muted() {
                    self.silence = Silence::Waiting(now, 0);
                }
            }
            AgentIn::InputTranscript { transcript, .. } => self.caller_turn(&transcript, now),
            AgentIn::TranscriptDone {
                item_id,
                transcript,
            } => self.agent_turn(item_id, &transcript, now),
            AgentIn::TranscriptDelta { delta, .. } => {
                if self.leg.is_browser() {
                    self.browser_out(StudioOut::TranscriptDelta { text: delta });
                }
            }
            AgentIn::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let call = ToolCall::parse(&name, &arguments);
                if call == Ok(ToolCall::EndCall) {
                    self.goodbye = Some(Goodbye {
                        since: now,
                        said: false,
                    });
                }
                self.silence = Silence::Idle;
                self.out.push_back(Action::Tool { call_id, call });
            }
            AgentIn::ResponseDone { .. } => self.response_done(),
            AgentIn::ResponseCreated { .. } if self.agent_muted() => {
                // A human has the call: whatever the agent starts is cancelled.
                self.agent(AgentOut::ResponseCancel);
            }
            AgentIn::ResponseCreated { .. } => self.play.response_audio = false,
            AgentIn::SessionCreated {}
            | AgentIn::SessionUpdated {}
            | AgentIn::Error { .. }
            | AgentIn::Other => {}
        }
    }

    fn response_done(&mut self) {
        if self.play.speaking && self.leg.is_browser() {
            self.play.speaking = false;
            self.browser_out(StudioOut::AgentSpeaking { speaking: false });
        }
        let Some(g) = self.goodbye.filter(|g| !g.said) else {
            return;
        };
        // The goodbye after end_call: hang up once the caller heard it.
        if self.play.item.first_at.is_some_and(|t| t >= g.since) {
            self.goodbye = Some(Goodbye { said: true, ..g });
            if self.play.marks.is_empty() {
                self.hangup("end_call");
            }
        }
    }

    fn caller_turn(&mut self, transcript: &str, now: Instant) {
        let end = self.speech_stopped_at.unwrap_or(now);
        let start = self.speech_started_at.unwrap_or(end);
        let text = transcript.trim().to_owned();
        if text.is_empty() {
            return;
        }
        if self.agent_muted() {
            self.operator.human_segment.push(text.clone());
        }
        self.out.push_back(Action::Turn(TurnRecord {
            role: "caller",
            text,
            start_ms: self.ms_at(start),
            end_ms: self.ms_at(end),
            interrupted: false,
        }));
    }

    fn agent_turn(&mut self, item_id: Option<String>, transcript: &str, now: Instant) {
        let text = transcript.trim().to_owned();
        if text.is_empty() {
            return;
        }
        let item = item_id.unwrap_or_else(|| self.play.item.id.clone());
        let start = if item == self.play.item.id {
            self.play.item.first_at.unwrap_or(now)
        } else {
            now
        };
        self.pending_turns.push(PendingTurn { item, text, start });
        self.settle_turns(false);
    }

    /// Records the agent turns whose playback is settled: cut off (interrupted, ending
    /// where the caller stopped hearing it), fully played, or everything at the end of
    /// the call (`all`; still queued audio counts as interrupted).
    pub(super) fn settle_turns(&mut self, all: bool) {
        let mut keep = Vec::new();
        for t in std::mem::take(&mut self.pending_turns) {
            let current = t.item == self.play.item.id;
            let playing = self.play.marks.iter().any(|m| m.item == t.item);
            let cut = self.play.truncated.contains(&t.item);
            if !(cut || !playing || all) {
                keep.push(t);
                continue;
            }
            let spoken = match (current, cut || playing) {
                (true, true) => self.play.item.heard_ms,
                (true, false) => self.play.item.generated_ms,
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

    /// `delta` (base64) goes to the caller's side as received: the agent speaks the
    /// caller's format (the call's codec, or the browser's PCM).
    fn agent_audio(&mut self, item_id: String, delta: String, now: Instant) {
        if self.agent_muted()
            || self.play.truncated.contains(&item_id)
            || self.answered_at.is_none()
        {
            return;
        }
        let Ok(bytes) = STANDARD.decode(delta.as_bytes()) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        if item_id != self.play.item.id {
            self.play.item = AgentItem {
                id: item_id.clone(),
                first_at: Some(now),
                ..AgentItem::default()
            };
        }
        self.measure_reply(now);
        self.silence = Silence::Idle;
        let ms = self.leg.agent_ms(bytes.len());
        self.play.item.generated_ms += ms;
        // Played after what is already queued at the caller's side.
        let play_at = self.play.play_cursor.filter(|c| *c > now).unwrap_or(now);
        self.play.play_cursor = Some(play_at + Duration::from_millis(ms));
        let at = self.sample_at(play_at);
        let audio = self.leg.agent_ulaw(self.codec, bytes);
        if self.leg.is_browser() {
            if !self.play.speaking {
                self.browser_out(StudioOut::AgentSpeaking { speaking: true });
            }
            self.browser_out(StudioOut::AgentAudio { audio: delta });
            self.out.push_back(Action::Measure(Measure::FramesOut(1)));
        } else {
            self.out
                .push_back(Action::Carrier(CarrierOut::media_b64(delta)));
            self.out.push_back(Action::Measure(Measure::FramesOut(1)));
            self.play.next_mark += 1;
            let mark = self.play.next_mark;
            self.out
                .push_back(Action::Carrier(CarrierOut::mark(format!("a{mark}"))));
            self.play.marks.push_back(Pending {
                mark,
                item: item_id,
                generated_ms: self.play.item.generated_ms,
            });
        }
        self.play.speaking = true;
        self.out.push_back(Action::Record {
            track: Track::Agent,
            at,
            audio,
        });
    }

    /// The first audio of the call, and of a reply to the caller: measured (and shown
    /// to a browser).
    fn measure_reply(&mut self, now: Instant) {
        if !self.first_audio_seen {
            self.first_audio_seen = true;
            if let Some(a) = self.answered_at {
                self.out.push_back(Action::Measure(Measure::FirstAudio(
                    now.saturating_duration_since(a),
                )));
            }
        }
        let first_of_response = !self.play.response_audio;
        self.play.response_audio = true;
        if first_of_response && self.leg.is_browser() {
            self.browser_out(StudioOut::FirstAudioDelta);
        }
        if let Some(since) = self.awaiting_reply_since.take() {
            if self.speech_stopped_at == Some(since) {
                let latency = now.saturating_duration_since(since);
                self.out
                    .push_back(Action::Measure(Measure::VoiceToVoice(latency)));
                if self.leg.is_browser() {
                    let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
                    self.browser_out(StudioOut::Latency { ms });
                }
            }
        }
    }

    /// Whether the caller is hearing the agent now: audio queued at the carrier not
    /// yet marked played, or a browser between the agent's first audio and its end.
    fn agent_audible(&self) -> bool {
        if self.leg.is_browser() {
            self.play.speaking
        } else {
            !self.play.marks.is_empty()
        }
    }

    /// Stops the agent where the caller stopped hearing it: truncate the item to the
    /// heard milliseconds (never more than generated), clear the caller's queue, cut
    /// the recording's agent track at `now`.
    pub(super) fn cut_agent(&mut self, now: Instant) {
        if self.leg.is_browser() {
            // A browser plays what it gets as it gets it: heard is the time since the
            // item began.
            let since = self
                .play
                .item
                .first_at
                .map_or(0, |t| now.saturating_duration_since(t).as_millis());
            self.play.item.heard_ms = u64::try_from(since).unwrap_or(u64::MAX);
        }
        let heard = self.play.item.heard_ms.min(self.play.item.generated_ms);
        if !self.play.item.id.is_empty() {
            self.agent(AgentOut::Truncate {
                item_id: self.play.item.id.clone(),
                content_index: 0,
                audio_end_ms: heard,
            });
            self.play.truncated.insert(self.play.item.id.clone());
            self.play.item.heard_ms = heard;
        }
        self.settle_turns(false);
        if self.leg.is_browser() {
            self.browser_out(StudioOut::BargeIn);
            self.browser_out(StudioOut::AgentSpeaking { speaking: false });
        } else {
            self.out.push_back(Action::Carrier(CarrierOut::Clear));
        }
        self.play.speaking = false;
        self.out.push_back(Action::RecordCut {
            track: Track::Agent,
            from: self.sample_at(now),
        });
        self.play.marks.clear();
        self.play.play_cursor = Some(now);
    }

    /// The caller started speaking: if the agent is being heard, cut it off where the
    /// caller stopped hearing it.
    fn barge_in(&mut self, now: Instant) {
        if !self.agent_audible() {
            return;
        }
        self.cut_agent(now);
        if let Some(g) = self.goodbye.as_mut() {
            g.said = false;
        }
        let reaction = self
            .speech_started_at
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.out
            .push_back(Action::Measure(Measure::BargeIn(reaction)));
    }

    /// The result of a tool the agent called.
    pub(super) fn tool_result(&mut self, call_id: &str, output: &Value, now: Instant) {
        self.agent(AgentOut::tool_output(call_id, output));
        self.agent(AgentOut::ResponseCreate { response: None });
        self.awaiting_reply_since = None;
        if self.phase != Phase::HangingUp && self.goodbye.is_none() {
            self.silence = Silence::Waiting(now, 0);
        }
    }

    /// The agent socket is up. After a loss, the agent is told where we were.
    pub(super) fn agent_up(&mut self, now: Instant) {
        let again = self.reconnects_left < AGENT_RECONNECTS;
        if !again {
            return;
        }
        self.out
            .push_back(Action::Measure(Measure::AgentReconnected));
        self.settle_turns(true);
        self.play.marks.clear();
        self.play.play_cursor = Some(now);
        self.play.item = AgentItem::default();
        self.agent(AgentOut::user_text(
            "(The line to you was interrupted for a moment. Continue the conversation where it stopped.)",
        ));
        if self.answered_at.is_some() {
            self.agent(AgentOut::ResponseCreate { response: None });
            self.silence = Silence::Waiting(now, 0);
        }
    }

    /// The agent socket failed to open or dropped: reconnect once, then give up on
    /// the call (nobody would answer the caller).
    pub(super) fn agent_down(&mut self) {
        if self.phase == Phase::Ended {
            return;
        }
        if self.reconnects_left > 0 {
            self.reconnects_left -= 1;
            self.out.push_back(Action::ConnectAgent);
        } else {
            self.hangup("agent_unavailable");
        }
    }

    fn browser_out(&mut self, message: StudioOut) {
        self.out.push_back(Action::Browser(message));
    }
}
