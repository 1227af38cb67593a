//! `/monitor?call=<id>&rate=8000|16000|24000|48000&binary=1`: listen-in. The caller's
//! and the agent's audio, resampled from 8 kHz to the rate the browser asks for (48 kHz
//! by default) with a polyphase windowed-sinc filter, or as it is at `rate=8000` (the
//! console asks for that and resamples in the browser: resampling was most of what a
//! listener cost the appliance), as JSON frames
//! `{"type":"audio","track":"caller"|"agent","audio":<base64 PCM16LE>}` or, with
//! `binary=1`, binary frames `[track byte: 0 caller, 1 agent][PCM16LE…]`; plus
//! `{"type":"level","track","rms"}` every 100 ms of audio and
//! `{"type":"transcript","role","text","interrupted"}` turns. Audio comes in chunks of
//! 100 ms per track ([`crate::live::LISTEN_CHUNK`]; the call task gathers them), so a
//! listener costs ten wake-ups and writes a second, not a hundred. Many listeners per
//! call; a listener that falls behind is dropped (close 1008 `slow_listener`), never the
//! call.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::browser::listen::{rounded, ListenOut};
use crate::live::{Listening, Tap};
use crate::resample::Resampler;
use crate::session::close;
use crate::ws::WsStream;
use crate::SessionMeta;

/// A send that takes longer than this means the listener cannot keep up.
const SEND_DEADLINE: Duration = Duration::from_secs(2);
/// Level events per track: every 100 ms of 8 kHz audio.
const LEVEL_SAMPLES: usize = 800;

type WsResult = Result<&'static str, tokio_tungstenite::tungstenite::Error>;

/// What the listener asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub call_id: String,
    pub rate: u32,
    pub binary: bool,
    /// Who listens, for the audit log (`operator=`; default `operator`).
    pub operator: String,
}

/// Reads the query: `call` (required), `rate` (8000, 16000, 24000 or 48000), `binary=1`.
pub fn parse(query: &str) -> Result<Listen, &'static str> {
    let mut listen = Listen {
        call_id: String::new(),
        rate: 48_000,
        binary: false,
        operator: "operator".into(),
    };
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "call" | "room" => listen.call_id = v.to_owned(),
            "rate" => {
                listen.rate = match v {
                    "8000" => 8_000,
                    "16000" => 16_000,
                    "24000" => 24_000,
                    "48000" => 48_000,
                    _ => return Err("bad_rate"),
                }
            }
            "binary" => listen.binary = v == "1" || v == "true",
            "operator" => {
                let name: String = v
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "._@-".contains(*c))
                    .take(64)
                    .collect();
                if !name.is_empty() {
                    listen.operator = name;
                }
            }
            _ => {}
        }
    }
    let ok = !listen.call_id.is_empty()
        && listen.call_id.len() <= 64
        && listen
            .call_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(listen)
    } else {
        Err("unknown_call")
    }
}

struct Track {
    name: &'static str,
    id: u8,
    /// `None` at the call's own rate (8 kHz).
    resampler: Option<Resampler>,
    sum_sq: f64,
    n: usize,
}

impl Track {
    fn new(name: &'static str, id: u8, rate: u32) -> Self {
        Self {
            name,
            id,
            resampler: (rate != 8000).then(|| Resampler::new(8000, rate, 16)),
            sum_sq: 0.0,
            n: 0,
        }
    }

    /// The listener's messages for a chunk of this track (8 kHz): the audio at the
    /// listener's rate, and a level every 100 ms of audio.
    fn frames(&mut self, samples: &[i16], binary: bool) -> Vec<Message> {
        let mut out = Vec::with_capacity(2);
        let resampled = self.resampler.as_mut().map(|r| r.process(samples));
        let pcm = resampled.as_deref().unwrap_or(samples);
        let head = usize::from(binary);
        let mut bytes = vec![self.id; head + pcm.len() * 2];
        // Sample by sample into a sized buffer: a plain copy on little-endian machines
        // (pushing two bytes at a time checked the capacity per sample).
        for (to, s) in bytes[head..].chunks_exact_mut(2).zip(pcm) {
            to.copy_from_slice(&s.to_le_bytes());
        }
        out.push(if binary {
            Message::binary(bytes)
        } else {
            let audio = STANDARD.encode(&bytes);
            Message::text(
                ListenOut::Audio {
                    track: self.name,
                    audio,
                }
                .to_json(),
            )
        });
        for s in samples {
            let x = f64::from(*s) / 32768.0;
            self.sum_sq += x * x;
            self.n += 1;
            if self.n == LEVEL_SAMPLES {
                let rms = rounded((self.sum_sq / self.n as f64).sqrt());
                out.push(Message::text(
                    ListenOut::Level {
                        track: self.name,
                        rms,
                    }
                    .to_json(),
                ));
                self.sum_sq = 0.0;
                self.n = 0;
            }
        }
        out
    }
}

/// The listener's messages for `first` and for whatever else is already queued (the
/// other track's chunk comes right behind the caller's): one write for all of them.
/// `Some` error: the stream ended or the listener fell behind, after these messages.
fn gather(
    first: Result<Tap, RecvError>,
    rx: &mut Listening,
    tracks: &mut [Track; 2],
    binary: bool,
) -> (Vec<Message>, Option<RecvError>) {
    let mut messages = Vec::new();
    let mut next = Some(first);
    while let Some(tap) = next.take() {
        match tap {
            Ok(Tap::Audio { track, samples }) => {
                if let Some(t) = tracks.iter_mut().find(|t| t.name == track) {
                    messages.extend(t.frames(&samples, binary));
                }
            }
            Ok(Tap::Turn {
                role,
                text,
                interrupted,
            }) => messages.push(Message::text(
                ListenOut::Transcript {
                    role,
                    text,
                    interrupted,
                }
                .to_json(),
            )),
            Err(e) => return (messages, Some(e)),
        }
        next = rx.try_recv();
    }
    (messages, None)
}

pub async fn run<S>(mut ws: WsStream<S>, meta: &SessionMeta, bridge: &crate::Bridge) -> WsResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let listen = match parse(&meta.query) {
        Ok(l) => l,
        Err(reason) => {
            close(&mut ws, CloseCode::Policy, reason).await;
            return Ok("refused");
        }
    };
    let Some(mut rx) = bridge.live().listen(&listen.call_id) else {
        close(&mut ws, CloseCode::Policy, "unknown_call").await;
        return Ok("refused: unknown call");
    };
    let metrics = bridge.metrics();
    metrics.monitor_listeners.inc();
    if let Some(hooks) = bridge.hooks() {
        // Before the listener hears anything (the call's audio waits in `rx`, which
        // holds longer than the audit may take).
        let actor = meta.actor.or_named(&listen.operator);
        crate::hooks::audit_first(hooks, actor, "call.listen", &listen.call_id).await;
    }
    tracing::info!(call_id = %listen.call_id, request_id = %meta.request_id, rate = listen.rate, "listen-in started");
    let mut tracks = [
        Track::new("caller", 0, listen.rate),
        Track::new("agent", 1, listen.rate),
    ];
    let result = loop {
        tokio::select! {
            tap = rx.recv() => {
                let (messages, end) = gather(tap, &mut rx, &mut tracks, listen.binary);
                let mut slow = false;
                for m in messages {
                    match tokio::time::timeout(SEND_DEADLINE, ws.feed(m)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return { metrics.monitor_listeners.dec(); Err(e) },
                        Err(_) => { slow = true; break; }
                    }
                }
                if !slow && tokio::time::timeout(SEND_DEADLINE, ws.flush()).await.is_err() {
                    slow = true;
                }
                if slow {
                    metrics.monitor_dropped.inc();
                    break "dropped: cannot keep up";
                }
                match end {
                    Some(RecvError::Lagged(_)) => {
                        metrics.monitor_dropped.inc();
                        close(&mut ws, CloseCode::Policy, "slow_listener").await;
                        break "dropped: too slow";
                    }
                    Some(RecvError::Closed) => {
                        close(&mut ws, CloseCode::Normal, "call_ended").await;
                        break "call ended";
                    }
                    None => {}
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break "listener left",
                // A listener sends nothing: any text is of an unknown type.
                Some(Ok(Message::Text(_))) => metrics.browser_unknown.with_label_values(&["monitor"]).inc(),
                Some(Ok(_)) => {}
            },
        }
    };
    metrics.monitor_listeners.dec();
    tracing::info!(call_id = %listen.call_id, request_id = %meta.request_id, result, "listen-in ended");
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let l = |rate, binary, operator: &str| Listen {
            call_id: "abc".into(),
            rate,
            binary,
            operator: operator.into(),
        };
        assert_eq!(parse("call=abc"), Ok(l(48_000, false, "operator")));
        assert_eq!(
            parse("call=abc&rate=16000&binary=1&token=x&operator=ann%20<x>"),
            Ok(l(16_000, true, "ann20x"))
        );
        assert_eq!(parse("call=abc&rate=8000"), Ok(l(8_000, false, "operator")));
        assert_eq!(parse("call=abc&rate=44100"), Err("bad_rate"));
        assert_eq!(parse("rate=16000"), Err("unknown_call"));
        assert_eq!(parse("call=../x"), Err("unknown_call"));
    }

    #[test]
    fn audio_at_the_calls_rate_passes_as_it_is_and_other_rates_are_resampled() {
        let chunk = [1i16, -2, 300, i16::MIN];
        let mut native = Track::new("agent", 1, 8000);
        let Some(Message::Binary(b)) = native.frames(&chunk, true).first().cloned() else {
            panic!("a binary frame first");
        };
        assert_eq!(&b[..], &[1, 1, 0, 254, 255, 44, 1, 0, 128]);
        let mut wide = Track::new("agent", 1, 48_000);
        let Some(Message::Binary(b)) = wide.frames(&chunk, true).first().cloned() else {
            panic!("a binary frame first");
        };
        assert_eq!(b.len(), 1 + chunk.len() * 6 * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_listener_that_stops_reading_is_dropped_not_the_call() {
        use tokio_tungstenite::tungstenite::protocol::Role;
        let bridge = crate::Bridge::new(crate::BridgeOptions::default());
        bridge.live().start("c1");
        let mut tap = bridge.live().tap("c1").expect("tap");
        // The listener's socket holds 4 KiB and is never read.
        let (server, _silent) = tokio::io::duplex(4096);
        let ws = WsStream::new(server, Role::Server, 1 << 20, &[]);
        let meta = SessionMeta {
            request_id: "r".into(),
            query: "call=c1&rate=48000".into(),
            stream_token: None,
            actor: crate::Actor::default(),
        };
        let b = bridge.clone();
        let session = tokio::spawn(async move { run(ws, &meta, &b).await });
        tokio::task::yield_now().await;
        // The call keeps sending: it never waits for the listener.
        for _ in 0..400 {
            tap.audio(crate::call::core::Track::Caller, &[0x80; 160]);
        }
        let result = session.await.expect("join").expect("session");
        assert!(result.starts_with("dropped"), "{result}");
        assert_eq!(bridge.metrics().monitor_dropped.get(), 1);
        assert_eq!(bridge.metrics().monitor_listeners.get(), 0);
    }
}
