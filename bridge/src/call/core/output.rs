//! What the call core answers with: actions for the task around it (frames, audio to
//! record, turns, measures, dropped frames), and its configuration.

use std::time::Duration;

use crate::agent::{AgentOut, ToolCall, ToolError};
use crate::browser::studio::StudioOut;
use crate::carrier::CarrierOut;
use crate::g711::Codec;

pub const SAMPLE_RATE: u64 = 8000;

/// The two sides of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// Left: the caller.
    Caller,
    /// Right: the agent (or an operator speaking in its place).
    Agent,
}

/// One finished transcript turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRecord {
    /// `caller` or `agent`.
    pub role: &'static str,
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub interrupted: bool,
}

/// Measurements the task turns into metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// From answer to the agent's first audio.
    FirstAudio(Duration),
    /// From the end of the caller's speech to the agent's first audio of the reply.
    VoiceToVoice(Duration),
    /// A barge-in, and the time from the agent's `speech_started` to our `clear`.
    BargeIn(Duration),
    FramesIn(u64),
    FramesOut(u64),
    /// A caller frame that made no sense, dropped (the call goes on).
    Rejected(Rejection),
    /// The agent socket was lost and is up again.
    AgentReconnected,
}

/// Why a caller media frame was dropped before it reached the agent or the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not base64, empty, or over the size limit.
    Payload,
    /// A sequence number too far ahead of the stream.
    Sequence,
    /// A timestamp that places the audio far from the call's clock.
    Timestamp,
}

impl Rejection {
    pub const ALL: [Self; 3] = [Self::Payload, Self::Sequence, Self::Timestamp];

    pub fn label(self) -> &'static str {
        match self {
            Self::Payload => "payload",
            Self::Sequence => "sequence",
            Self::Timestamp => "timestamp",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Carrier(CarrierOut),
    /// A message for the browser (Agent Studio).
    Browser(StudioOut),
    Agent(AgentOut),
    /// µ-law bytes at a sample position (8 kHz, from answer).
    Record {
        track: Track,
        at: u64,
        audio: Vec<u8>,
    },
    /// Drop what was placed on `track` from sample `from` on (audio never played).
    RecordCut {
        track: Track,
        from: u64,
    },
    Turn(TurnRecord),
    /// The agent called a tool (`call_id` is the agent's id for the call, to answer
    /// with [`CallCore::tool_result`](super::CallCore::tool_result)).
    Tool {
        call_id: String,
        call: Result<ToolCall, ToolError>,
    },
    Hangup {
        reason: &'static str,
    },
    /// The codec the carrier announced differs from the one the agent was set up with.
    CodecChanged(Codec),
    /// Open the agent socket again (it was lost).
    ConnectAgent,
    Measure(Measure),
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Silence after the caller's turn before the agent is nudged (then apologises,
    /// then the call is hung up).
    pub silence_timeout: Duration,
    pub jitter_window: usize,
    /// The agent speaks first when the call is answered (outbound calls).
    pub greet: bool,
    /// After `end_call`, hang up at the latest this long after the goodbye started.
    pub goodbye_limit: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            silence_timeout: Duration::from_secs(6),
            jitter_window: 4,
            greet: true,
            goodbye_limit: Duration::from_secs(15),
        }
    }
}
