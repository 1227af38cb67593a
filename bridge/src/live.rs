//! The calls live right now, for the Monitor: who is on which call, in which state,
//! who controls it and how loud each side is, plus a broadcast of calls starting,
//! changing state and ending so the admin page needs no polling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// One live call as the Monitor shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCall {
    pub call_id: String,
    /// `ringing` (media socket open, not answered) or `streaming`.
    pub state: &'static str,
    /// `agent`, or the operator's name once takeover lands.
    pub controller: String,
    /// Unix milliseconds: when the media stream opened.
    pub since: i64,
    pub answered_at: Option<i64>,
    /// RMS of the last quarter second, 0.0 to 1.0.
    pub caller_level: f32,
    pub agent_level: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveEvent {
    /// `call.started`, `call.updated`, `call.ended`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub call: LiveCall,
}

/// What listeners of one call receive (8 kHz PCM16 and transcript turns).
#[derive(Debug, Clone)]
pub enum Tap {
    Audio {
        track: &'static str,
        samples: std::sync::Arc<Vec<i16>>,
    },
    Turn {
        role: &'static str,
        text: String,
        interrupted: bool,
    },
}

/// What an operator session tells the call.
#[derive(Debug, Clone)]
pub enum Control {
    Join(crate::call::core::OperatorMode),
    /// Operator audio, 8 kHz PCM16.
    Audio(Vec<i16>),
    /// Whisper: the instruction is complete.
    Commit,
    Leave,
}

/// Why an operator cannot take a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    NoCall,
    /// Another operator has it (their name).
    Taken(String),
}

/// Frames an operator's socket may fall behind before frames are skipped (about 2 s of
/// both tracks).
const TAP_QUEUE: usize = 256;
/// Listeners get each track's audio in chunks of about this many 8 kHz samples (100 ms),
/// both tracks at once: a tenth of the wake-ups, messages and writes of a message per
/// 20 ms frame, for 100 ms more delay on a listen-in.
pub const LISTEN_CHUNK: usize = 800;
/// Chunks a listener may fall behind before it is dropped (about 2.5 s of both tracks).
const LISTEN_QUEUE: usize = 50;

/// A live call's two broadcasts: every frame for an operator's socket (takeover and
/// whisper need the caller without delay), [`LISTEN_CHUNK`]s for listeners.
#[derive(Debug, Clone)]
struct Taps {
    frames: broadcast::Sender<Tap>,
    chunks: broadcast::Sender<Tap>,
    /// How many receive each, indexed [`FRAMES`] and [`CHUNKS`]: read per frame by the
    /// call task without the broadcast's lock (`receiver_count` takes it).
    receivers: Arc<[AtomicUsize; 2]>,
}

const FRAMES: usize = 0;
const CHUNKS: usize = 1;

impl Taps {
    fn listened(&self, which: usize) -> bool {
        self.receivers[which].load(Ordering::Relaxed) > 0
    }
}

/// One receiver of a call's audio and turns (see [`LiveCalls::listen`]).
#[derive(Debug)]
pub struct Listening {
    rx: broadcast::Receiver<Tap>,
    receivers: Arc<[AtomicUsize; 2]>,
    which: usize,
}

impl Listening {
    fn new(taps: &Taps, which: usize) -> Self {
        taps.receivers[which].fetch_add(1, Ordering::Relaxed);
        let sender = if which == FRAMES {
            &taps.frames
        } else {
            &taps.chunks
        };
        Self {
            rx: sender.subscribe(),
            receivers: Arc::clone(&taps.receivers),
            which,
        }
    }

    pub async fn recv(&mut self) -> Result<Tap, broadcast::error::RecvError> {
        self.rx.recv().await
    }

    /// What is queued already (`None`: nothing yet).
    pub fn try_recv(&mut self) -> Option<Result<Tap, broadcast::error::RecvError>> {
        use broadcast::error::{RecvError, TryRecvError};
        match self.rx.try_recv() {
            Ok(tap) => Some(Ok(tap)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.receivers[self.which].fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct LiveCalls {
    calls: Mutex<HashMap<String, LiveCall>>,
    taps: Mutex<HashMap<String, Taps>>,
    controls: Mutex<HashMap<String, crate::controls::ControlSender>>,
    events: broadcast::Sender<LiveEvent>,
}

impl std::fmt::Debug for LiveCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCalls").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Default for LiveCalls {
    fn default() -> Self {
        Self {
            calls: Mutex::new(HashMap::new()),
            taps: Mutex::new(HashMap::new()),
            controls: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
        }
    }
}

impl LiveCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveCall>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn emit(&self, kind: &'static str, call: LiveCall) {
        // No subscriber is fine.
        let _ = self.events.send(LiveEvent { kind, call });
    }

    /// Live calls, oldest first.
    pub fn list(&self) -> Vec<LiveCall> {
        let mut all: Vec<LiveCall> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| {
            a.since
                .cmp(&b.since)
                .then_with(|| a.call_id.cmp(&b.call_id))
        });
        all
    }

    /// Whether `call_id` is live on this appliance.
    pub fn contains(&self, call_id: &str) -> bool {
        self.lock().contains_key(call_id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    fn taps(&self, call_id: &str) -> Option<Taps> {
        self.taps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(call_id)
            .cloned()
    }

    /// Listens to a live call: audio in [`LISTEN_CHUNK`]s (`None`: no such call).
    pub fn listen(&self, call_id: &str) -> Option<Listening> {
        self.taps(call_id).map(|t| Listening::new(&t, CHUNKS))
    }

    /// Listens to a live call frame by frame, for an operator's socket.
    pub fn listen_frames(&self, call_id: &str) -> Option<Listening> {
        self.taps(call_id).map(|t| Listening::new(&t, FRAMES))
    }

    /// The call task's end of its broadcasts.
    pub(crate) fn tap(&self, call_id: &str) -> Option<TapFeed> {
        self.taps(call_id).map(|taps| TapFeed {
            taps,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Gives the call to `operator` (only one at a time) and returns the way to talk
    /// to the call.
    pub fn claim(
        &self,
        call_id: &str,
        operator: &str,
    ) -> Result<crate::controls::ControlSender, ClaimError> {
        let control = self
            .controls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(call_id)
            .cloned()
            .ok_or(ClaimError::NoCall)?;
        let updated = {
            let mut calls = self.lock();
            let call = calls.get_mut(call_id).ok_or(ClaimError::NoCall)?;
            if call.controller != "agent" {
                return Err(ClaimError::Taken(call.controller.clone()));
            }
            call.controller = operator.to_owned();
            call.clone()
        };
        self.emit("call.updated", updated);
        Ok(control)
    }

    /// The operator left: the agent controls the call again.
    pub fn release(&self, call_id: &str) {
        let updated = self.lock().get_mut(call_id).map(|c| {
            c.controller = "agent".into();
            c.clone()
        });
        if let Some(c) = updated {
            self.emit("call.updated", c);
        }
    }

    /// Registers a new call; the receiver is the call task's end of its controls.
    pub(crate) fn start(&self, call_id: &str) -> crate::controls::ControlReceiver {
        let (tx, rx) = crate::controls::channel();
        self.controls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(call_id.to_owned(), tx);
        self.start_listed(call_id);
        rx
    }

    fn start_listed(&self, call_id: &str) {
        self.taps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                call_id.to_owned(),
                Taps {
                    frames: broadcast::channel(TAP_QUEUE).0,
                    chunks: broadcast::channel(LISTEN_QUEUE).0,
                    receivers: Arc::default(),
                },
            );
        let call = LiveCall {
            call_id: call_id.to_owned(),
            state: "ringing",
            controller: "agent".into(),
            since: now_ms(),
            answered_at: None,
            caller_level: 0.0,
            agent_level: 0.0,
        };
        self.lock().insert(call_id.to_owned(), call.clone());
        self.emit("call.started", call);
    }

    pub(crate) fn answered(&self, call_id: &str) {
        let updated = self.lock().get_mut(call_id).map(|c| {
            c.state = "streaming";
            c.answered_at = Some(now_ms());
            c.clone()
        });
        if let Some(c) = updated {
            self.emit("call.updated", c);
        }
    }

    /// Levels change four times a second: kept for the list, not broadcast.
    pub(crate) fn levels(&self, call_id: &str, caller: f32, agent: f32) {
        if let Some(c) = self.lock().get_mut(call_id) {
            c.caller_level = caller;
            c.agent_level = agent;
        }
    }

    pub(crate) fn end(&self, call_id: &str) {
        self.controls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(call_id);
        // Dropping the sender ends every listener's stream.
        self.taps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(call_id);
        if let Some(c) = self.lock().remove(call_id) {
            self.emit("call.ended", c);
        }
    }
}

/// What the call task sends its listeners and operator: each frame decoded once, sent
/// at once to an operator's socket and in [`LISTEN_CHUNK`]s to listeners; nothing is
/// decoded or kept while nobody listens. What is pending goes out before a turn and
/// when the call ends.
pub(crate) struct TapFeed {
    taps: Taps,
    /// Listeners' audio not sent yet, indexed [`CALLER`] and [`AGENT`].
    pending: [Vec<i16>; 2],
}

const CALLER: usize = 0;
const AGENT: usize = 1;

impl TapFeed {
    pub(crate) fn audio(&mut self, track: crate::call::core::Track, ulaw: &[u8]) {
        let (frames, chunks) = (self.taps.listened(FRAMES), self.taps.listened(CHUNKS));
        if !frames && !chunks {
            self.pending = [Vec::new(), Vec::new()];
            return;
        }
        let (name, slot) = match track {
            crate::call::core::Track::Caller => ("caller", CALLER),
            crate::call::core::Track::Agent => ("agent", AGENT),
        };
        let samples = ulaw.iter().map(|b| crate::g711::ulaw_to_linear(*b));
        if frames {
            let _ = self.taps.frames.send(Tap::Audio {
                track: name,
                samples: Arc::new(samples.clone().collect()),
            });
        }
        if chunks {
            let pending = &mut self.pending[slot];
            if pending.capacity() == 0 {
                pending.reserve_exact(LISTEN_CHUNK + ulaw.len());
            }
            pending.extend(samples);
            // Both tracks go out together when the caller's chunk is full, so a listener
            // wakes once per chunk, not once per track; the agent's alone only if the
            // caller's frames stopped.
            if self.pending[CALLER].len() >= LISTEN_CHUNK
                || self.pending[AGENT].len() >= 2 * LISTEN_CHUNK
            {
                self.send_pending();
            }
        }
    }

    /// Operator audio: to operators' sockets only (listeners hear the call's tracks).
    pub(crate) fn operator(&self, samples: &[i16]) {
        if self.taps.listened(FRAMES) {
            let _ = self.taps.frames.send(Tap::Audio {
                track: "operator",
                samples: Arc::new(samples.to_vec()),
            });
        }
    }

    pub(crate) fn turn(&mut self, role: &'static str, text: &str, interrupted: bool) {
        self.send_pending();
        for (which, tap) in [(FRAMES, &self.taps.frames), (CHUNKS, &self.taps.chunks)] {
            if self.taps.listened(which) {
                let _ = tap.send(Tap::Turn {
                    role,
                    text: text.to_owned(),
                    interrupted,
                });
            }
        }
    }

    /// Listeners' pending audio, the caller's first.
    fn send_pending(&mut self) {
        for (slot, track) in [(CALLER, "caller"), (AGENT, "agent")] {
            if !self.pending[slot].is_empty() {
                let samples = std::mem::take(&mut self.pending[slot]);
                let _ = self.taps.chunks.send(Tap::Audio {
                    track,
                    samples: Arc::new(samples),
                });
            }
        }
    }
}

impl Drop for TapFeed {
    /// The call ended: listeners get its last audio before their stream closes.
    fn drop(&mut self) {
        self.send_pending();
    }
}

/// RMS of µ-law audio accumulated over a window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Level {
    /// Sum of the squared linear samples (at most 2^30 each: a u64 holds 2^33 of them).
    sum_sq: u64,
    n: u64,
}

impl Level {
    pub(crate) fn add_ulaw(&mut self, audio: &[u8]) {
        let squares = &crate::g711::ULAW_SQUARES;
        self.sum_sq += audio
            .iter()
            .map(|b| u64::from(squares[usize::from(*b)]))
            .sum::<u64>();
        self.n += audio.len() as u64;
    }

    /// The window's RMS (full scale 1.0), and a new window.
    pub(crate) fn take(&mut self) -> f32 {
        let rms = if self.n == 0 {
            0.0
        } else {
            (self.sum_sq as f64 / self.n as f64).sqrt() / 32768.0
        };
        *self = Self::default();
        rms as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_announced_listed_and_removed() {
        let live = LiveCalls::default();
        let mut rx = live.subscribe();
        let _controls = live.start("c1");
        live.answered("c1");
        live.levels("c1", 0.5, 0.25);
        assert_eq!(live.list()[0].state, "streaming");
        assert_eq!(live.list()[0].caller_level, 0.5);
        live.end("c1");
        assert!(live.list().is_empty());
        let kinds: Vec<&str> = (0..3).map(|_| rx.try_recv().expect("event").kind).collect();
        assert_eq!(kinds, vec!["call.started", "call.updated", "call.ended"]);
    }

    fn audio(tap: Option<Result<Tap, broadcast::error::RecvError>>) -> (&'static str, usize) {
        match tap {
            Some(Ok(Tap::Audio { track, samples })) => (track, samples.len()),
            other => panic!("not audio: {other:?}"),
        }
    }

    #[test]
    fn listeners_get_both_tracks_in_chunks_operators_every_frame() {
        use crate::call::core::Track;
        let live = LiveCalls::default();
        let _controls = live.start("c1");
        let mut feed = live.tap("c1").expect("tap");
        feed.audio(Track::Caller, &[0x80; 160]);
        assert!(
            feed.pending.iter().all(Vec::is_empty),
            "nothing kept unheard"
        );
        let mut chunks = live.listen("c1").expect("listen");
        let mut frames = live.listen_frames("c1").expect("frames");
        for _ in 0..5 {
            feed.audio(Track::Agent, &[0x80; 160]);
            feed.audio(Track::Caller, &[0xFF; 160]);
        }
        for _ in 0..10 {
            assert_eq!(audio(frames.try_recv()).1, 160, "every frame, at once");
        }
        assert_eq!(audio(chunks.try_recv()), ("caller", LISTEN_CHUNK));
        assert_eq!(audio(chunks.try_recv()), ("agent", LISTEN_CHUNK));
        assert!(chunks.try_recv().is_none());
        // A turn goes after the audio before it; the call's end sends what is left.
        feed.audio(Track::Caller, &[0xFF; 160]);
        feed.turn("agent", "Hallo", false);
        assert_eq!(audio(chunks.try_recv()), ("caller", 160));
        assert!(matches!(chunks.try_recv(), Some(Ok(Tap::Turn { .. }))));
        feed.audio(Track::Agent, &[0x80; 160]);
        drop(feed);
        live.end("c1");
        assert_eq!(audio(chunks.try_recv()), ("agent", 160));
        assert!(matches!(
            chunks.try_recv(),
            Some(Err(broadcast::error::RecvError::Closed))
        ));
    }

    #[test]
    fn levels_are_rms() {
        let mut l = Level::default();
        assert_eq!(l.take(), 0.0);
        l.add_ulaw(&[0xFF; 160]);
        assert_eq!(l.take(), 0.0, "µ-law silence");
        l.add_ulaw(&[0x80; 10]);
        assert!((l.take() - 32_124.0 / 32_768.0).abs() < 1e-4);
    }
}
