//! Telnyx media-stream frames, typed both ways. Numbers Telnyx sends as strings
//! (`sequence_number`, `timestamp`) are read as [`Decimal`]s; optional fields are
//! optional; an event we do not know is [`CarrierIn::Unknown`] (counted, never fatal).
//!
//! The two frames that arrive 50 times a second each (`media`, and `mark` while the
//! agent speaks) are read straight into their fields; every other frame goes through
//! serde's internally tagged enum, which first buffers the whole frame (the tag may
//! come last) and so costs several allocations a frame. Both paths give the same result
//! for the same text (tested below).

pub mod jitter;
pub mod media_clock;

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::json_text::around;

/// A decimal number Telnyx sends as a string (`"42"`; a JSON integer is read too).
/// Text that is not a number reads as `None`, as if the field were absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decimal(pub Option<u64>);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;
        impl Visitor<'_> for DecimalVisitor {
            type Value = Decimal;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal number in a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Ok(Decimal(v.trim().parse().ok()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(Some(v)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Decimal, E> {
                Ok(Decimal(None))
            }
        }
        deserializer.deserialize_any(DecimalVisitor)
    }
}

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

/// Which side of the call a media frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaTrack {
    /// The caller.
    Inbound,
    /// What the caller hears.
    Outbound,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Media {
    /// Absent on single-track streams (then the caller).
    #[serde(default)]
    pub track: Option<MediaTrack>,
    /// Milliseconds since the stream started.
    #[serde(default)]
    pub timestamp: Decimal,
    pub payload: String,
}

impl Media {
    /// The caller's audio (not the echo of what the caller hears).
    pub fn is_inbound(&self) -> bool {
        matches!(self.track, None | Some(MediaTrack::Inbound))
    }
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
        sequence_number: Decimal,
        start: Start,
    },
    Media {
        #[serde(default)]
        sequence_number: Decimal,
        media: Media,
    },
    Dtmf {
        #[serde(default)]
        sequence_number: Decimal,
        dtmf: Dtmf,
    },
    Mark {
        #[serde(default)]
        sequence_number: Decimal,
        mark: MarkBody,
    },
    Stop {
        #[serde(default)]
        sequence_number: Decimal,
    },
    Error {
        #[serde(default)]
        payload: Option<ErrorBody>,
    },
    #[serde(other)]
    Unknown,
}

/// The fields of the frequent frames, read without buffering the frame; the event
/// name borrowed from the text.
#[derive(Deserialize)]
struct Frequent<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    sequence_number: Decimal,
    #[serde(default)]
    media: Option<Media>,
    #[serde(default)]
    mark: Option<MarkBody>,
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
        if let Ok(frame) = serde_json::from_str::<Frequent>(text) {
            match (&*frame.event, frame.media, frame.mark) {
                ("media", Some(media), _) => {
                    return Ok(Self::Media {
                        sequence_number: frame.sequence_number,
                        media,
                    })
                }
                ("mark", _, Some(mark)) => {
                    return Ok(Self::Mark {
                        sequence_number: frame.sequence_number,
                        mark,
                    })
                }
                _ => {}
            }
        }
        serde_json::from_str(text).map_err(|e| FrameError::Shape(e.to_string()))
    }
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
        let framed = match self {
            Self::Media { media } => around(
                r#"{"event":"media","media":{"payload":""#,
                &media.payload,
                r#""}}"#,
            ),
            Self::Mark { mark } => {
                around(r#"{"event":"mark","mark":{"name":""#, &mark.name, r#""}}"#)
            }
            Self::Clear => None,
        };
        framed.unwrap_or_else(|| serde_json::to_string(self).unwrap_or_default())
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
                assert_eq!(sequence_number, Decimal(Some(4)));
                assert_eq!(payload(&media).expect("b64"), vec![0xFF, 0x7F]);
                assert_eq!(media.timestamp, Decimal(Some(5)));
                assert!(media.is_inbound());
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

    /// The frequent frames' direct read gives what the tagged enum gives, for good
    /// frames and broken ones alike.
    #[test]
    fn the_direct_read_agrees_with_the_tagged_enum() {
        let tagged = |text: &str| {
            serde_json::from_str::<CarrierIn>(text).map_err(|e| FrameError::Shape(e.to_string()))
        };
        for text in [
            r#"{"event":"media","sequence_number":"4","stream_id":"s","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/38="}}"#,
            r#"{"media":{"payload":"/38=","track":"outbound"},"event":"media"}"#,
            r#"{"event":"media","sequence_number":" 9 ","media":{"payload":"/38=","track":"both","timestamp":"soon"}}"#,
            r#"{"event":"media","sequence_number":12,"media":{"payload":"/38=","timestamp":null}}"#,
            r#"{"event":"media","sequence_number":"-3","media":{"payload":"/38="}}"#,
            r#"{"event":"media","media":{"track":"inbound"}}"#,
            r#"{"event":"media","media":{"payload":7}}"#,
            r#"{"event":"media","sequence_number":{"n":1},"media":{"payload":"/38="}}"#,
            r#"{"event":"media","mark":{"name":"m"}}"#,
            r#"{"event":"mark","stream_id":"s","sequence_number":"6","mark":{"name":"m-42"}}"#,
            r#"{"event":"mark","mark":{"name":"a\u0031"},"media":{"payload":"x"}}"#,
            r#"{"event":"mark","mark":{}}"#,
            r#"{"event":"m\u0065dia","media":{"payload":"/38="}}"#,
            r#"{"event":"dtmf","sequence_number":"5","dtmf":{"digit":"1"},"media":{"payload":"x"}}"#,
            r#"{"event":"stop","sequence_number":"7"}"#,
            r#"{"event":"brand_new","media":{"payload":"x"}}"#,
            r#"{"event":5}"#,
            r#"{"media":{"payload":"/38="}}"#,
            r#"{"event":"media","media":{"payload":"/38="}} trailing"#,
            "[]",
        ] {
            assert_eq!(CarrierIn::parse(text), tagged(text), "{text}");
        }
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
        // Written by hand or by serde, the same text.
        for value in ["/38=", "a1", "", "é", "q\"uote", "back\\slash", "\u{7}"] {
            for frame in [
                CarrierOut::media_b64(value.into()),
                CarrierOut::mark(value.into()),
            ] {
                assert_eq!(
                    frame.to_json(),
                    serde_json::to_string(&frame).expect("json"),
                    "{value:?}"
                );
            }
        }
    }
}
