//! The caller's side: Telnyx media frames on the phone (answer, audio in order through
//! the jitter window, DTMF, marks, stop), browser messages in Agent Studio (audio,
//! commit), and where the caller's audio lands on the recording.

use std::time::Instant;

use super::{Action, CallCore, Measure, Rejection, Track};
use crate::agent::AgentOut;
use crate::browser::studio::StudioIn;
use crate::carrier::{payload, CarrierIn, Decimal};
use crate::g711::Codec;

/// How far behind the call's clock browser audio may land (Studio: one second).
const BROWSER_LAG_SAMPLES: u64 = 8000;

impl CallCore {
    /// A frame from the carrier.
    pub(super) fn carrier(&mut self, frame: CarrierIn, now: Instant) {
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
                if let Some(seq) = sequence_number.0 {
                    self.jitter.expect(seq.saturating_add(1));
                }
                if let Some(c) = Codec::parse(&start.media_format.encoding) {
                    if c != self.codec {
                        self.codec = c;
                        self.out.push_back(Action::CodecChanged(c));
                    }
                }
                self.answer(now);
            }
            CarrierIn::Media {
                sequence_number,
                media,
                ..
            } => {
                if !media.is_inbound() {
                    return;
                }
                let Ok(bytes) = payload(&media) else {
                    self.reject(Rejection::Payload);
                    return;
                };
                let ts = media.timestamp.0;
                match sequence_number.0 {
                    Some(seq) if !self.jitter.admits(seq) => self.reject(Rejection::Sequence),
                    Some(seq) => {
                        self.jitter.push(seq, (ts, media.payload, bytes));
                        self.caller_ready();
                    }
                    None => self.caller_audio(ts, media.payload, bytes),
                }
            }
            CarrierIn::Dtmf {
                dtmf,
                sequence_number,
            } => {
                self.skip(sequence_number);
                let text = format!("(The caller pressed {} on the phone keypad.)", dtmf.digit);
                self.agent(AgentOut::user_text(&text));
                self.ask_agent(now);
            }
            CarrierIn::Mark {
                mark,
                sequence_number,
            } => {
                self.skip(sequence_number);
                self.marked(&mark.name);
            }
            CarrierIn::Stop { .. } => self.end(),
        }
    }

    /// A message from the browser (Agent Studio).
    pub(super) fn browser(&mut self, message: StudioIn, now: Instant) {
        if self.answered_at.is_none() {
            return;
        }
        self.now_sample = self.sample_at(now);
        match message {
            StudioIn::Audio { audio } => {
                let Some(bytes) = self.leg.decode(&audio) else {
                    self.reject(Rejection::Payload);
                    return;
                };
                let at = self
                    .caller_cursor
                    .max(self.now_sample.saturating_sub(BROWSER_LAG_SAMPLES));
                self.caller_at(at, audio, bytes);
            }
            // The browser decided the person stopped speaking: the agent answers now.
            StudioIn::Commit => {
                self.speech_stopped_at = Some(now);
                self.agent(AgentOut::Commit);
                self.ask_agent(now);
            }
            StudioIn::Unknown => {}
        }
    }

    /// A non-media frame's sequence number: not a gap in the audio.
    fn skip(&mut self, seq: Decimal) {
        if let Some(seq) = seq.0 {
            self.jitter.skip(seq);
            self.caller_ready();
        }
    }

    /// The caller's frames the jitter buffer let go, in order.
    pub(super) fn caller_ready(&mut self) {
        while let Some((_, (ts, b64, bytes))) = self.jitter.ready() {
            self.caller_audio(ts, b64, bytes);
        }
    }

    pub(super) fn reject(&mut self, why: Rejection) {
        self.out.push_back(Action::Measure(Measure::Rejected(why)));
    }

    /// `b64` is the frame's payload as received: passed to the agent as is. The frame
    /// lands where its timestamp says on the call's clock (see `MediaClock`); one
    /// whose timestamp makes no sense is dropped.
    pub(super) fn caller_audio(&mut self, ts_ms: Option<u64>, b64: String, bytes: Vec<u8>) {
        let at = match ts_ms {
            None => self.caller_cursor,
            Some(t) => match self.media_clock.place(t, self.now_sample) {
                Some(at) => at,
                None => return self.reject(Rejection::Timestamp),
            },
        };
        self.caller_at(at, b64, bytes);
    }

    fn caller_at(&mut self, at: u64, b64: String, bytes: Vec<u8>) {
        self.out.push_back(Action::Measure(Measure::FramesIn(1)));
        // Also during a takeover: the agent keeps listening, so it knows what was said.
        self.agent(AgentOut::Append { audio: b64 });
        let audio = self.leg.caller_ulaw(self.codec, bytes);
        self.caller_cursor = at + audio.len() as u64;
        self.out.push_back(Action::Record {
            track: Track::Caller,
            at,
            audio,
        });
    }

    /// The carrier played the agent's audio up to mark `name`.
    fn marked(&mut self, name: &str) {
        // Ours are `a1`, `a2`, ...: exactly that text, no sign or leading zero.
        let number = name
            .strip_prefix('a')
            .filter(|n| !n.starts_with(['+', '0']));
        let Some(mark) = number.and_then(|n| n.parse::<u64>().ok()) else {
            return;
        };
        if !self.play.marks.iter().any(|p| p.mark == mark) {
            return;
        }
        while let Some(p) = self.play.marks.pop_front() {
            if p.item == self.play.item.id {
                self.play.item.heard_ms = self.play.item.heard_ms.max(p.generated_ms);
            }
            if p.mark == mark {
                break;
            }
        }
        self.settle_turns(false);
        if self.play.marks.is_empty() && self.goodbye.is_some_and(|g| g.said) {
            self.hangup("end_call");
        }
    }
}
