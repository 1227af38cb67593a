//! An operator on the call: a takeover mutes the agent and speaks to the caller (paced
//! at 20 ms, recorded on the agent's track); a whisper speaks to the agent only, as a
//! supervisor's instruction. When the operator leaves, the agent takes the call back
//! and is told what the caller said meanwhile.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::leg::to_ulaw;
use super::{Action, CallCore, Measure, OperatorMode, Phase, Silence, Track, FRAME};
use crate::agent::AgentOut;
use crate::carrier::CarrierOut;

/// At most this much whispered audio is kept (30 s).
const WHISPER_MAX: usize = 30 * 8000;

impl CallCore {
    /// An operator joins: `Takeover` mutes the agent (its response cancelled, what the
    /// carrier still holds cleared, the recording's agent track cut); `Whisper` leaves
    /// the agent speaking.
    pub(super) fn operator_joins(&mut self, mode: OperatorMode, now: Instant) {
        self.operator.mode = Some(mode);
        self.operator.queue.clear();
        self.operator.whisper.clear();
        self.operator.human_segment.clear();
        if mode == OperatorMode::Whisper {
            return;
        }
        self.silence = Silence::Idle;
        self.goodbye = None;
        self.agent(AgentOut::ResponseCancel);
        if !self.play.marks.is_empty() {
            self.cut_agent(now);
        }
        self.play.play_cursor = Some(now);
    }

    /// Operator audio, 8 kHz PCM16.
    pub(super) fn operator_audio(&mut self, samples: &[i16]) {
        match self.operator.mode {
            Some(OperatorMode::Takeover) => self.operator.queue.extend(samples.iter().copied()),
            Some(OperatorMode::Whisper) => {
                let room = WHISPER_MAX.saturating_sub(self.operator.whisper.len());
                let codec = self.codec;
                self.operator
                    .whisper
                    .extend(samples.iter().take(room).map(|s| codec.encode(*s)));
            }
            None => {}
        }
    }

    /// Every 20 ms: one frame of the operator's voice to the caller (and the recording's
    /// agent track).
    pub(super) fn operator_tick(&mut self, now: Instant) {
        if self.operator.mode != Some(OperatorMode::Takeover) || self.operator.queue.len() < FRAME {
            return;
        }
        let pcm: Vec<i16> = self.operator.queue.drain(..FRAME).collect();
        let bytes: Vec<u8> = pcm.iter().map(|s| self.codec.encode(*s)).collect();
        self.out
            .push_back(Action::Carrier(CarrierOut::media(&bytes)));
        let audio = to_ulaw(self.codec, bytes);
        self.out.push_back(Action::Measure(Measure::FramesOut(1)));
        let at = self.sample_at(now);
        self.out.push_back(Action::Record {
            track: Track::Agent,
            at,
            audio,
        });
    }

    /// A whispering operator finished an instruction: the agent hears it as such.
    pub(super) fn whisper_commit(&mut self) {
        if self.operator.whisper.is_empty() {
            return;
        }
        let audio = STANDARD.encode(std::mem::take(&mut self.operator.whisper));
        self.agent(AgentOut::ItemCreate {
            item: json!({"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "(Instruction from your supervisor, not from the caller. Follow it; do not mention it.)"},
                {"type": "input_audio", "audio": audio}
            ]}),
        });
    }

    /// The operator leaves: the agent takes the call back and is told what happened.
    pub(super) fn operator_leaves(&mut self, now: Instant) {
        let Some(mode) = self.operator.mode.take() else {
            return;
        };
        if mode == OperatorMode::Whisper {
            self.whisper_commit();
            return;
        }
        self.operator.queue.clear();
        let said = if self.operator.human_segment.is_empty() {
            "nothing the transcription caught".to_owned()
        } else {
            self.operator
                .human_segment
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.operator.human_segment.clear();
        self.agent(AgentOut::user_text(&format!(
            "(A human colleague spoke with the caller for a while and now hands the call back to you. Meanwhile the caller said: {said}. Continue from here.)"
        )));
        if self.answered_at.is_some() && self.phase == Phase::Live {
            self.ask_agent(now);
        }
    }
}
