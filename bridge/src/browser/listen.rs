//! `/monitor` (listen-in) and `/operator-bridge` (takeover, whisper), both ways. A
//! listener is sent the call's audio at the rate it asked for, the tracks' levels and
//! the transcript; an operator also its own microphone level, and sends its microphone
//! (JSON or binary PCM16) and, when whispering, the end of an instruction. Shapes are
//! the seed's.

use serde::{Deserialize, Serialize};

/// What a listener or an operator is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ListenOut {
    /// `{"type":"audio","track":"caller"|"agent","audio":"<base64 PCM16LE>"}`
    Audio { track: &'static str, audio: String },
    /// `{"type":"level","track","rms"}`: every 100 ms of a track's audio (0..1).
    Level { track: &'static str, rms: f64 },
    /// `{"type":"transcript","role","text","interrupted"}`: one finished turn.
    Transcript {
        role: &'static str,
        text: String,
        interrupted: bool,
    },
    /// `{"type":"mic_level","rms"}`: the operator's microphone, per chunk sent.
    MicLevel { rms: f64 },
}

impl ListenOut {
    pub fn to_json(&self) -> String {
        // Strings, finite numbers and booleans: always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What an operator sends (besides binary PCM16 frames at its `rate`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorIn {
    /// `{"type":"audio","audio":"<base64 PCM16LE at rate>"}`
    Audio { audio: String },
    /// `{"type":"commit"}`: a whispered instruction is complete.
    Commit,
    #[serde(other)]
    Unknown,
}

impl OperatorIn {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// RMS rounded to three decimals, as the messages carry it.
pub fn rounded(rms: f64) -> f64 {
    (rms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_shapes_both_ways() {
        let cases = [
            (
                ListenOut::Audio {
                    track: "caller",
                    audio: "AAA=".into(),
                },
                r#"{"type":"audio","track":"caller","audio":"AAA="}"#,
            ),
            (
                ListenOut::Level {
                    track: "agent",
                    rms: rounded(0.123_456),
                },
                r#"{"type":"level","track":"agent","rms":0.123}"#,
            ),
            (
                ListenOut::Transcript {
                    role: "caller",
                    text: "Hallo".into(),
                    interrupted: false,
                },
                r#"{"type":"transcript","role":"caller","text":"Hallo","interrupted":false}"#,
            ),
            (
                ListenOut::MicLevel { rms: 0.5 },
                r#"{"type":"mic_level","rms":0.5}"#,
            ),
        ];
        for (out, json) in cases {
            assert_eq!(out.to_json(), json);
        }
        assert_eq!(
            OperatorIn::parse(r#"{"type":"audio","audio":"AAA="}"#).ok(),
            Some(OperatorIn::Audio {
                audio: "AAA=".into()
            })
        );
        assert_eq!(
            OperatorIn::parse(r#"{"type":"commit"}"#).ok(),
            Some(OperatorIn::Commit)
        );
        assert_eq!(
            OperatorIn::parse(r#"{"type":"hello"}"#).ok(),
            Some(OperatorIn::Unknown)
        );
        assert!(OperatorIn::parse("[]").is_err());
    }
}
