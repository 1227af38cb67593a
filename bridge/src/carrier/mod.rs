//! Telnyx media-stream frames, typed both ways. Numbers Telnyx sends as strings
//! (`sequence_number`, `chunk`, `timestamp`) are read as strings and parsed; optional
//! fields are optional; an event we do not know is [`CarrierIn::Unknown`] (counted,
//! never fatal).

pub mod jitter;
pub mod media_clock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MediaFormat {
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub sample_rate: u32,
    #[serde(default)]
    pub channels: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Start {
    #[serde(default)]
    pub call_control_id: Option<String>,
    #[serde(default)]
    pub call_session_id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub client_state: Option<String>,
    #[serde(default)]
    pub media_format: MediaFormat,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Media {
    /// `inbound` (the caller) or `outbound` (what the caller hears).
    #[serde(default)]
    pub track: Option<String>,
    #[serde(default)]
    pub chunk: Option<String>,
    /// Milliseconds since the stream started (a string on the wire).
    #[serde(default)]
    pub timestamp: Option<String>,
    pub payload: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Dtmf {
    pub digit: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MarkBody {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// A frame Telnyx sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum CarrierIn {
    Connected {
        #[serde(default)]
        version: Option<String>,
    },
    Start {
        #[serde(default)]
        sequence_number: Option<String>,
        #[serde(default)]
        stream_id: Option<String>,
        start: Start,
    },
    Media {
        #[serde(default)]
        sequence_number: Option<String>,
        #[serde(default)]
        stream_id: Option<String>,
        media: Media,
    },
    Dtmf {
        #[serde(default)]
        sequence_number: Option<String>,
        dtmf: Dtmf,
    },
    Mark {
        #[serde(default)]
        sequence_number: Option<String>,
        mark: MarkBody,
    },
    Stop {
        #[serde(default)]
        sequence_number: Option<String>,
    },
    Error {
        #[serde(default)]
        payload: Option<ErrorBody>,
    },
    #[serde(other)]
    Unknown,
}

/// Why a frame could not be read (the session counts it and goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not JSON or not a known frame shape: {0}")]
    Shape(String),
    #[error(
        "media payload is not base64, empty, or over {} bytes",
        media_clock::MAX_PAYLOAD_BYTES
    )]
    Payload,
}

impl CarrierIn {
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        serde_json::from_str(text).map_err(|e| FrameError::Shape(e.to_string()))
    }
}

/// Parses a decimal string field.
pub fn number(field: Option<&String>) -> Option<u64> {
    field.and_then(|s| s.trim().parse().ok())
}

/// The audio bytes of a media frame: base64, not empty, at most
/// [`media_clock::MAX_PAYLOAD_BYTES`] (judged before decoding).
pub fn payload(media: &Media) -> Result<Vec<u8>, FrameError> {
    let text = media.payload.as_bytes();
    if text.is_empty() || text.len() > media_clock::MAX_PAYLOAD_BYTES.div_ceil(3) * 4 {
        return Err(FrameError::Payload);
    }
    STANDARD.decode(text).map_err(|_| FrameError::Payload)
}

/// A frame we send to Telnyx (bidirectional RTP mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum CarrierOut {
    Media { media: OutMedia },
    Clear,
    Mark { mark: OutMark },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutMedia {
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutMark {
    pub name: String,
}

impl CarrierOut {
    pub fn media(bytes: &[u8]) -> Self {
        Self::Media {
            media: OutMedia {
                payload: STANDARD.encode(bytes),
            },
        }
    }

    /// A media frame from payload already in base64.
    pub fn media_b64(payload: String) -> Self {
        Self::Media {
            media: OutMedia { payload },
        }
    }

    pub fn mark(name: String) -> Self {
        Self::Mark {
            mark: OutMark { name },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_frames() {
        let start = r#"{"event":"start","sequence_number":"1","stream_id":"32DE0DEA","start":{"user_id":"u","call_control_id":"v2:T02l","call_session_id":"ff55","from":"+13122010094","to":"+13122123456","tags":["A"],"client_state":"aGV5","media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}"#;
        match CarrierIn::parse(start).expect("start") {
            CarrierIn::Start { start, .. } => {
                assert_eq!(start.media_format.encoding, "PCMU");
                assert_eq!(start.call_control_id.as_deref(), Some("v2:T02l"));
            }
            other => panic!("{other:?}"),
        }
        let media = r#"{"event":"media","sequence_number":"4","stream_id":"s","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/38="}}"#;
        match CarrierIn::parse(media).expect("media") {
            CarrierIn::Media {
                sequence_number,
                media,
                ..
            } => {
                assert_eq!(number(sequence_number.as_ref()), Some(4));
                assert_eq!(payload(&media).expect("b64"), vec![0xFF, 0x7F]);
                assert_eq!(number(media.timestamp.as_ref()), Some(5));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            CarrierIn::parse(
                r#"{"event":"dtmf","stream_id":"s","occurred_at":"x","sequence_number":"5","dtmf":{"digit":"1"}}"#
            ),
            Ok(CarrierIn::Dtmf { .. })
        ));
        assert!(matches!(
            CarrierIn::parse(
                r#"{"event":"mark","stream_id":"s","sequence_number":"6","mark":{"name":"m-42"}}"#
            ),
            Ok(CarrierIn::Mark { .. })
        ));
        assert!(matches!(
            CarrierIn::parse(
                r#"{"event":"stop","sequence_number":"7","stream_id":"s","stop":{"user_id":"u","call_control_id":"v2:x"}}"#
            ),
            Ok(CarrierIn::Stop { .. })
        ));
        assert!(matches!(
            CarrierIn::parse(
                r#"{"event":"error","stream_id":"s","payload":{"code":100003,"title":"malformed_frame","detail":"d"}}"#
            ),
            Ok(CarrierIn::Error { .. })
        ));
        assert_eq!(
            CarrierIn::parse(r#"{"event":"connected","version":"1.0.0"}"#),
            Ok(CarrierIn::Connected {
                version: Some("1.0.0".into())
            })
        );
        assert_eq!(
            CarrierIn::parse(r#"{"event":"brand_new"}"#),
            Ok(CarrierIn::Unknown)
        );
        assert!(CarrierIn::parse("{").is_err());
        assert!(CarrierIn::parse(r#"{"event":"media"}"#).is_err());
    }

    #[test]
    fn writes_the_documented_frames() {
        assert_eq!(
            CarrierOut::media(&[0xFF, 0x7F]).to_json(),
            r#"{"event":"media","media":{"payload":"/38="}}"#
        );
        assert_eq!(CarrierOut::Clear.to_json(), r#"{"event":"clear"}"#);
        assert_eq!(
            CarrierOut::mark("m-42".into()).to_json(),
            r#"{"event":"mark","mark":{"name":"m-42"}}"#
        );
    }
}
