//! The demo agent: one OpenAI Realtime session per connection, speaking the GA
//! events the bridge reads. A voice-activity detector on what it hears ends the
//! caller's turns; it answers each with a scripted line as an 880 Hz tone as long as
//! the words, its transcript streaming with the audio; a supervisor's whisper is
//! reported on the control protocol.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use agent5_bridge::g711;

use super::{emit, rms, tone, Ws, AGENT_HZ, CONTROL};

pub const AGENT_LINES: [&str; 4] = [
    "Good afternoon, this is the demo agent calling about your invoice.",
    "Thank you. I can confirm your address and the amount due.",
    "Your delivery is planned for Thursday morning.",
    "You are welcome. Have a nice day.",
];

pub const CALLER_LINES: [&str; 4] = [
    "Hello, who is calling?",
    "Yes, that is me.",
    "When will my delivery arrive?",
    "Thank you, goodbye.",
];

/// The audio format the agent was asked to speak: µ-law, A-law, or PCM16 at 24 kHz.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Ulaw,
    Alaw,
    Pcm24k,
}

impl Format {
    fn of(session_update: &Value) -> Self {
        match session_update["session"]["audio"]["input"]["format"]["type"].as_str() {
            Some("audio/pcm") => Self::Pcm24k,
            Some("audio/pcma") => Self::Alaw,
            _ => Self::Ulaw,
        }
    }

    fn rate(self) -> f32 {
        if self == Self::Pcm24k {
            24_000.0
        } else {
            8_000.0
        }
    }

    fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            Self::Ulaw => bytes.iter().map(|&b| g711::ulaw_to_linear(b)).collect(),
            Self::Alaw => bytes.iter().map(|&b| g711::alaw_to_linear(b)).collect(),
            Self::Pcm24k => bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
        }
    }

    fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            Self::Ulaw => samples.iter().map(|&s| g711::linear_to_ulaw(s)).collect(),
            Self::Alaw => samples.iter().map(|&s| g711::linear_to_alaw(s)).collect(),
            Self::Pcm24k => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }
}

/// The demo agent: one Realtime session per connection.
pub async fn demo_agent(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                agent_session(ws).await;
            }
        });
    }
}

/// Speech is louder than this RMS (0..1); silence this long ends a turn.
const VAD_RMS: f64 = 0.02;
const VAD_SILENCE_MS: f32 = 400.0;

async fn agent_session(mut ws: Ws) {
    let mut format = Format::Ulaw;
    let mut speaking = false;
    let mut silent_ms = 0.0f32;
    let mut turn = 0usize;
    let mut item = 0usize;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(t) = msg else { continue };
        let Ok(event) = serde_json::from_str::<Value>(&t) else {
            continue;
        };
        let mut out = Vec::new();
        match event["type"].as_str().unwrap_or_default() {
            "session.update" => {
                format = Format::of(&event);
                out.push(json!({"type": "session.updated", "session": event["session"]}));
            }
            "conversation.item.create" => {
                // A supervisor's whisper: text, then the instruction's audio.
                let content = event["item"]["content"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if let Some(audio) = content.iter().find_map(|c| c["audio"].as_str()) {
                    let samples = format.decode(&STANDARD.decode(audio).unwrap_or_default());
                    if CONTROL.load(std::sync::atomic::Ordering::Relaxed)
                        && format != Format::Pcm24k
                    {
                        emit(&json!({"event": "whisper",
                            "seconds": samples.len() as f64 / f64::from(format.rate()),
                            "hz440": tone(&samples, 440.0)}));
                    }
                }
            }
            "response.create" => {
                item += 1;
                out.extend(answer(format, item, AGENT_LINES[0]));
            }
            "input_audio_buffer.append" => {
                let audio = STANDARD
                    .decode(event["audio"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                let samples = format.decode(&audio);
                let ms = samples.len() as f32 * 1000.0 / format.rate();
                let loud = rms(&samples) > VAD_RMS;
                if loud && !speaking {
                    speaking = true;
                    out.push(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": format!("user-{turn}")}));
                }
                silent_ms = if loud { 0.0 } else { silent_ms + ms };
                if speaking && silent_ms >= VAD_SILENCE_MS {
                    speaking = false;
                    turn += 1;
                    item += 1;
                    let user = format!("user-{turn}");
                    out.push(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0, "item_id": user}));
                    out.push(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": user,
                        "content_index": 0, "transcript": CALLER_LINES[(turn - 1) % CALLER_LINES.len()]}));
                    out.extend(answer(format, item, AGENT_LINES[turn % AGENT_LINES.len()]));
                }
            }
            _ => {}
        }
        for o in out {
            if ws.send(Message::text(o.to_string())).await.is_err() {
                return;
            }
        }
    }
}

/// One spoken answer: its transcript word by word and a tone as long as the words.
fn answer(format: Format, item: usize, line: &str) -> Vec<Value> {
    let response = format!("resp-{item}");
    let item_id = format!("item-{item}");
    let mut out = vec![json!({"type": "response.created", "response": {"id": response}})];
    let words: Vec<&str> = line.split(' ').collect();
    let total_ms = (words.len() as f32 * 250.0).clamp(1000.0, 3000.0);
    let per_chunk = format.rate() as usize / 10;
    let chunks = (total_ms / 100.0) as usize;
    let mut phase = 0.0f32;
    let mut next_word = 0;
    for c in 0..chunks {
        let samples: Vec<i16> = (0..per_chunk)
            .map(|_| {
                let s = (phase.sin() * 7000.0) as i16;
                phase = (phase + 2.0 * std::f32::consts::PI * AGENT_HZ / format.rate())
                    % (2.0 * std::f32::consts::PI);
                s
            })
            .collect();
        out.push(json!({"type": "response.output_audio.delta", "response_id": response, "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": STANDARD.encode(format.encode(&samples))}));
        // The words spread over the audio, as a voice's transcript streams with it.
        while next_word < ((c + 1) * words.len()).div_ceil(chunks) {
            let sep = if next_word == 0 { "" } else { " " };
            out.push(
                json!({"type": "response.output_audio_transcript.delta", "response_id": response,
                "item_id": item_id, "delta": format!("{sep}{}", words[next_word])}),
            );
            next_word += 1;
        }
    }
    out.push(json!({"type": "response.output_audio_transcript.done", "item_id": item_id, "transcript": line}));
    out.push(json!({"type": "response.done", "response": {"id": response, "status": "completed"}}));
    out
}
