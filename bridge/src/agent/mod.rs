//! OpenAI Realtime (GA protocol) events, typed both ways, and the session
//! configuration sent first. Server events we do not use are [`AgentIn::Other`]
//! (counted, ignored).
//!
//! The audio delta (50 a second while the agent speaks) is read straight into its
//! fields; every other event goes through serde's internally tagged enum, which first
//! buffers the whole event. Both paths give the same result for the same text.

pub mod client;
pub mod tools;

pub use tools::{Tool, ToolCall, ToolError};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::g711::Codec;
use crate::json_text::around;

/// A server event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum AgentIn {
    #[serde(rename = "session.created")]
    SessionCreated {},
    #[serde(rename = "session.updated")]
    SessionUpdated {},
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        #[serde(default)]
        audio_start_ms: Option<u64>,
        #[serde(default)]
        item_id: Option<String>,
    },
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        #[serde(default)]
        audio_end_ms: Option<u64>,
        #[serde(default)]
        item_id: Option<String>,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscript {
        #[serde(default)]
        item_id: Option<String>,
        #[serde(default)]
        transcript: String,
    },
    #[serde(rename = "response.created")]
    ResponseCreated {
        #[serde(default)]
        response: Option<Value>,
    },
    #[serde(rename = "response.output_audio.delta")]
    AudioDelta { item_id: String, delta: String },
    #[serde(rename = "response.output_audio_transcript.delta")]
    TranscriptDelta {
        #[serde(default)]
        item_id: Option<String>,
        #[serde(default)]
        delta: String,
    },
    #[serde(rename = "response.output_audio_transcript.done")]
    TranscriptDone {
        #[serde(default)]
        item_id: Option<String>,
        #[serde(default)]
        transcript: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
    },
    #[serde(rename = "response.done")]
    ResponseDone {
        #[serde(default)]
        response: Option<Value>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        error: Option<AgentErrorBody>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AgentErrorBody {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

const AUDIO_DELTA: &str = "response.output_audio.delta";

/// The fields of an audio delta, read without buffering the event; the event type
/// borrowed from the text.
#[derive(Deserialize)]
struct Frequent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    item_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
}

impl AgentIn {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        if let Ok(event) = serde_json::from_str::<Frequent>(text) {
            if let (AUDIO_DELTA, Some(item_id), Some(delta)) =
                (&*event.kind, event.item_id, event.delta)
            {
                return Ok(Self::AudioDelta {
                    item_id: item_id.into_owned(),
                    delta: delta.into_owned(),
                });
            }
        }
        serde_json::from_str(text)
    }
}

/// A client event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum AgentOut {
    #[serde(rename = "session.update")]
    SessionUpdate { session: Value },
    #[serde(rename = "input_audio_buffer.append")]
    Append { audio: String },
    #[serde(rename = "input_audio_buffer.commit")]
    Commit,
    #[serde(rename = "conversation.item.create")]
    ItemCreate { item: Value },
    #[serde(rename = "conversation.item.truncate")]
    Truncate {
        item_id: String,
        content_index: u32,
        audio_end_ms: u64,
    },
    #[serde(rename = "response.create")]
    ResponseCreate {
        #[serde(skip_serializing_if = "Option::is_none")]
        response: Option<Value>,
    },
    #[serde(rename = "response.cancel")]
    ResponseCancel,
}

impl AgentOut {
    pub fn to_json(&self) -> String {
        let framed = match self {
            Self::Append { audio } => around(
                r#"{"type":"input_audio_buffer.append","audio":""#,
                audio,
                r#""}"#,
            ),
            _ => None,
        };
        framed.unwrap_or_else(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// A user text item (DTMF, operator notes, hand-back summaries).
    pub fn user_text(text: &str) -> Self {
        Self::ItemCreate {
            item: json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}),
        }
    }

    pub fn tool_output(call_id: &str, output: &Value) -> Self {
        Self::ItemCreate {
            item: json!({"type": "function_call_output", "call_id": call_id, "output": output.to_string()}),
        }
    }
}

/// What the agent is and may do on this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub instructions: String,
    pub voice: String,
    /// nl, fr, de, en (transcription language).
    pub language: String,
    pub tools: Vec<Tool>,
}

impl Default for AgentProfile {
    fn default() -> Self {
        Self {
            instructions: "You are a polite assistant calling on behalf of the company about an invoice or a delivery. Keep answers short.".into(),
            voice: "marin".into(),
            language: "nl".into(),
            tools: vec![Tool::OptOut, Tool::ConfirmLanguage, Tool::EndCall],
        }
    }
}

/// The first `session.update`: audio in the call's codec both ways (no transcoding),
/// server VAD with barge-in, transcription in the profile's language, the tools.
pub fn session_update(
    profile: &AgentProfile,
    codec: Codec,
    model: &str,
    transcription_model: &str,
) -> AgentOut {
    session_update_with(
        profile,
        &json!({"type": codec.realtime_format()}),
        model,
        transcription_model,
    )
}

/// `session.update` with any audio format (Agent Studio: `{"type":"audio/pcm","rate":24000}`).
pub fn session_update_with(
    profile: &AgentProfile,
    format: &Value,
    model: &str,
    transcription_model: &str,
) -> AgentOut {
    let tools: Vec<Value> = profile.tools.iter().map(|t| t.spec()).collect();
    AgentOut::SessionUpdate {
        session: json!({
            "type": "realtime",
            "model": model,
            "output_modalities": ["audio"],
            "instructions": profile.instructions,
            "audio": {
                "input": {
                    "format": format,
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                        "silence_duration_ms": 500, "create_response": true, "interrupt_response": true},
                    "transcription": {"model": transcription_model, "language": profile.language},
                },
                "output": {"format": format, "voice": profile.voice},
            },
            "tools": tools,
            "tool_choice": "auto",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ga_server_events() {
        assert_eq!(
            AgentIn::parse(
                r#"{"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":1200,"item_id":"i1"}"#
            )
            .ok(),
            Some(AgentIn::SpeechStarted {
                audio_start_ms: Some(1200),
                item_id: Some("i1".into())
            })
        );
        assert!(matches!(
            AgentIn::parse(
                r#"{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i2","output_index":0,"content_index":0,"delta":"/w=="}"#
            ),
            Ok(AgentIn::AudioDelta { .. })
        ));
        assert!(matches!(
            AgentIn::parse(
                r#"{"type":"response.function_call_arguments.done","call_id":"c1","name":"opt_out","arguments":"{}"}"#
            ),
            Ok(AgentIn::FunctionCall { .. })
        ));
        assert_eq!(
            AgentIn::parse(r#"{"type":"rate_limits.updated","rate_limits":[]}"#).ok(),
            Some(AgentIn::Other)
        );
        assert!(matches!(
            AgentIn::parse(
                r#"{"type":"error","error":{"type":"invalid_request_error","code":"x","message":"m"}}"#
            ),
            Ok(AgentIn::Error { error: Some(_) })
        ));
    }

    /// The audio delta's direct read gives what the tagged enum gives, for good events
    /// and broken ones alike.
    #[test]
    fn the_direct_read_agrees_with_the_tagged_enum() {
        let tagged = |text: &str| serde_json::from_str::<AgentIn>(text).map_err(|e| e.to_string());
        for text in [
            r#"{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i2","output_index":0,"content_index":0,"delta":"/w=="}"#,
            r#"{"delta":"/w==","item_id":"i\u0032","type":"response.output_audio.delta"}"#,
            r#"{"type":"response.output_audio.delta","item_id":"i2"}"#,
            r#"{"type":"response.output_audio.delta","delta":"/w=="}"#,
            r#"{"type":"response.output_audio.delta","item_id":7,"delta":"/w=="}"#,
            r#"{"type":"response.output_audio.delta","item_id":null,"delta":"/w=="}"#,
            r#"{"type":"response.output_audio_transcript.delta","item_id":"i2","delta":"Hal"}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"i2","delta":"{"}"#,
            r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":1200,"item_id":"i1"}"#,
            r#"{"type":"rate_limits.updated","rate_limits":[],"delta":5}"#,
            r#"{"type":"response.output_audio.delta","item_id":"i2","delta":"/w=="} x"#,
            r#"{"item_id":"i2","delta":"/w=="}"#,
            "[]",
        ] {
            assert_eq!(
                AgentIn::parse(text).map_err(|e| e.to_string()),
                tagged(text),
                "{text}"
            );
        }
    }

    #[test]
    fn session_update_is_the_ga_shape() {
        let u = session_update(
            &AgentProfile::default(),
            Codec::Pcma,
            "gpt-realtime",
            "whisper-1",
        );
        let v: Value = serde_json::from_str(&u.to_json()).expect("json");
        assert_eq!(v["type"], "session.update");
        assert_eq!(v["session"]["type"], "realtime");
        assert_eq!(
            v["session"]["audio"]["input"]["format"]["type"],
            "audio/pcma"
        );
        assert_eq!(
            v["session"]["audio"]["output"]["format"]["type"],
            "audio/pcma"
        );
        assert_eq!(
            v["session"]["audio"]["input"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(
            v["session"]["audio"]["input"]["transcription"]["language"],
            "nl"
        );
        assert_eq!(v["session"]["tools"].as_array().map(Vec::len), Some(3));
        assert!(v.get("OpenAI-Beta").is_none());
        assert_eq!(
            AgentOut::Truncate {
                item_id: "i".into(),
                content_index: 0,
                audio_end_ms: 640
            }
            .to_json(),
            r#"{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":640}"#
        );
        assert_eq!(
            AgentOut::ResponseCreate { response: None }.to_json(),
            r#"{"type":"response.create"}"#
        );
        // Written by hand or by serde, the same text.
        for audio in ["/38=", "", "q\"uote", "\u{0}"] {
            let append = AgentOut::Append {
                audio: audio.into(),
            };
            assert_eq!(
                append.to_json(),
                serde_json::to_string(&append).expect("json"),
                "{audio:?}"
            );
        }
    }
}
