//! `/agent-stream` (Agent Studio), both ways. The browser sends its microphone as
//! 24 kHz PCM16 and says when the person stopped speaking; it is sent the agent's
//! audio at the same rate, the transcript as it comes, and what happened (speaking,
//! barge-in, latency). Shapes are the seed's.

use serde::{Deserialize, Serialize};

/// What the browser sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StudioIn {
    /// `{"type":"audio","audio":"<base64 PCM16 24 kHz mono>"}`
    Audio { audio: String },
    /// `{"type":"commit"}`: the person stopped speaking; the agent answers now.
    Commit,
    /// Any other `type`: counted and logged, then ignored.
    #[serde(other)]
    Unknown,
}

impl StudioIn {
    /// A text message; `Err` when it is not JSON with a string `type`.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What the browser is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StudioOut {
    /// `{"type":"agent_audio_24k","audio":"<base64 PCM16 24 kHz>"}`
    #[serde(rename = "agent_audio_24k")]
    AgentAudio { audio: String },
    /// `{"type":"transcript_delta","text"}`: the agent's words as they are generated.
    TranscriptDelta { text: String },
    /// `{"type":"agent_speaking","speaking":true|false}`
    AgentSpeaking { speaking: bool },
    /// `{"type":"first_audio_delta"}`: the first audio of a response.
    FirstAudioDelta,
    /// `{"type":"barge_in"}`: the person spoke over the agent; drop what is queued.
    BargeIn,
    /// `{"type":"latency","ms"}`: end of the person's speech to the agent's first audio.
    Latency { ms: u64 },
}

impl StudioOut {
    pub fn to_json(&self) -> String {
        // A tagged enum of strings, numbers and booleans always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_shapes_both_ways() {
        assert_eq!(
            StudioIn::parse(r#"{"type":"audio","audio":"AAA="}"#).ok(),
            Some(StudioIn::Audio {
                audio: "AAA=".into()
            })
        );
        assert_eq!(
            StudioIn::parse(r#"{"type":"commit"}"#).ok(),
            Some(StudioIn::Commit)
        );
        assert_eq!(
            StudioIn::parse(r#"{"type":"dance"}"#).ok(),
            Some(StudioIn::Unknown)
        );
        assert!(StudioIn::parse(r#"{"audio":"x"}"#).is_err());
        assert!(StudioIn::parse(r#"{"type":"audio"}"#).is_err());
        let cases = [
            (
                StudioOut::AgentAudio {
                    audio: "QQ==".into(),
                },
                r#"{"type":"agent_audio_24k","audio":"QQ=="}"#,
            ),
            (
                StudioOut::TranscriptDelta { text: "Hi".into() },
                r#"{"type":"transcript_delta","text":"Hi"}"#,
            ),
            (
                StudioOut::AgentSpeaking { speaking: false },
                r#"{"type":"agent_speaking","speaking":false}"#,
            ),
            (
                StudioOut::FirstAudioDelta,
                r#"{"type":"first_audio_delta"}"#,
            ),
            (StudioOut::BargeIn, r#"{"type":"barge_in"}"#),
            (
                StudioOut::Latency { ms: 420 },
                r#"{"type":"latency","ms":420}"#,
            ),
        ];
        for (out, json) in cases {
            assert_eq!(out.to_json(), json);
        }
    }
}
