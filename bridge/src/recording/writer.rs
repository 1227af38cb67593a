//! The recordings' writer: one thread for every recording in the process. Call tasks
//! queue a batch of placed audio at each clock tick without waking it; it wakes every
//! [`TICK`] (at once when a recording ends), places each batch on its recording's two
//! tracks, writes out what lies further back than the lag, interleaved, and rewrites
//! the header sizes every few seconds. One thread rather than one per recording: at
//! 200 calls those threads' wake-ups, writes and frees cost a sixth of the appliance's
//! CPU (docs/performance.md, issue 19's sixth pass).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{wav, Batch, Msg, RecordingInfo, AHEAD_LIMIT_FRAMES, SILENCE};
use crate::call::core::Track;

/// How long the writer sleeps when no recording ends sooner: the recorders' clock tick.
const TICK: Duration = Duration::from_millis(250);
/// Header sizes are rewritten at least this often.
const HEADER_EVERY: Duration = Duration::from_secs(3);
/// Audio may still be placed this far behind the call's clock (jitter, late frames).
const LAG_FRAMES: u64 = 8000;

/// What a recorder asks of the writer, in order.
pub(super) enum Item {
    /// Create the file at `path` (and its directory) with an empty header.
    Open {
        id: u64,
        path: PathBuf,
        /// Batches of this recording queued and not yet written.
        pending: Arc<AtomicUsize>,
    },
    Batch {
        id: u64,
        batch: Batch,
    },
    /// Write everything out and close; the result to `done` (none when the recorder
    /// was dropped without finishing).
    Finish {
        id: u64,
        done: Option<oneshot::Sender<std::io::Result<RecordingInfo>>>,
    },
}

pub(super) struct Writer {
    queue: Arc<Mutex<Vec<Item>>>,
    thread: std::thread::Thread,
    next_id: AtomicU64,
}

impl Writer {
    /// The process's writer, started on first use; `None` if its thread could not start.
    pub(super) fn get() -> Option<&'static Writer> {
        static WRITER: OnceLock<Option<Writer>> = OnceLock::new();
        WRITER
            .get_or_init(|| {
                let queue = Arc::new(Mutex::new(Vec::new()));
                let theirs = Arc::clone(&queue);
                let thread = std::thread::Builder::new()
                    .name("agent5-recordings".into())
                    .spawn(move || run(&theirs))
                    .ok()?;
                Some(Writer {
                    queue,
                    thread: thread.thread().clone(),
                    next_id: AtomicU64::new(0),
                })
            })
            .as_ref()
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues `item`; the writer takes it at its next tick, or now with `wake`.
    pub(super) fn push(&self, item: Item, wake: bool) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        if wake {
            self.thread.unpark();
        }
    }
}

fn run(queue: &Mutex<Vec<Item>>) {
    let mut open: HashMap<u64, Recording> = HashMap::new();
    // Recordings whose file could not be created: their batches are discarded and
    // finishing returns the error.
    let mut failed: HashMap<u64, (std::io::Error, Arc<AtomicUsize>)> = HashMap::new();
    let mut items = Vec::new();
    loop {
        std::mem::swap(
            &mut *queue.lock().unwrap_or_else(PoisonError::into_inner),
            &mut items,
        );
        for item in items.drain(..) {
            match item {
                Item::Open { id, path, pending } => match create(&path) {
                    Ok(file) => {
                        open.insert(id, Recording::new(file, path, pending));
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "cannot create the recording");
                        failed.insert(id, (e, pending));
                    }
                },
                Item::Batch { id, batch } => {
                    if let Some(r) = open.get_mut(&id) {
                        r.pending.fetch_sub(1, Ordering::Relaxed);
                        r.apply(&batch);
                    } else if let Some((_, pending)) = failed.get(&id) {
                        pending.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Item::Finish { id, done } => {
                    let result = match open.remove(&id) {
                        Some(r) => Some(r.finish()),
                        None => failed.remove(&id).map(|(e, _)| Err(e)),
                    };
                    if let (Some(result), Some(done)) = (result, done) {
                        let _ = done.send(result);
                    }
                }
            }
        }
        std::thread::park_timeout(TICK);
    }
}

/// A recording's file, its directory created if needed and an empty header written.
fn create(path: &std::path::Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = File::create(path)?;
    file.write_all(&wav::header(0))?;
    Ok(file)
}

/// One recording on the writer's side.
struct Recording {
    /// Written a tick's interleaved chunk at a time (no buffer of its own: each chunk
    /// goes to the page cache at once).
    out: File,
    path: PathBuf,
    tracks: Tracks,
    frames: u64,
    last_header: Instant,
    pending: Arc<AtomicUsize>,
    /// The first write that failed: the rest of the recording is skipped, and
    /// finishing reports it.
    failed: Option<std::io::Error>,
    chunk: Vec<u8>,
}

impl Recording {
    fn new(file: File, path: PathBuf, pending: Arc<AtomicUsize>) -> Self {
        Self {
            out: file,
            path,
            tracks: Tracks::default(),
            frames: 0,
            last_header: Instant::now(),
            pending,
            failed: None,
            chunk: Vec::new(),
        }
    }

    fn apply(&mut self, batch: &Batch) {
        let mut audio = &batch.audio[..];
        for msg in &batch.msgs {
            match *msg {
                Msg::Audio { track, at, len } => {
                    let (this, rest) = audio.split_at(len.min(audio.len()));
                    self.tracks.place(track, at, this);
                    audio = rest;
                }
                Msg::Cut { track, from } => self.tracks.cut(track, from),
                Msg::Clock(now) => {
                    if self.failed.is_none() {
                        if let Err(e) = self.write_until(now.saturating_sub(LAG_FRAMES)) {
                            self.failed = Some(e);
                        }
                    }
                }
            }
        }
    }

    /// Writes the frames before `until` (on disk, in the page cache, at once: a crash
    /// loses only the lag), and the header when it is due.
    fn write_until(&mut self, until: u64) -> std::io::Result<()> {
        self.write_frames(until)?;
        if self.last_header.elapsed() >= HEADER_EVERY {
            wav::update_header(&self.out, self.frames)?;
            self.last_header = Instant::now();
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<RecordingInfo> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.write_frames(self.tracks.end())?;
        wav::update_header(&self.out, self.frames)?;
        self.out.sync_all()?;
        Ok(RecordingInfo {
            path: self.path,
            bytes: wav::HEADER_LEN + self.frames * u64::from(wav::BLOCK_ALIGN),
            frames: self.frames,
            unplaced_bytes: self.tracks.unplaced_bytes,
        })
    }

    /// Writes the frames before `until`, interleaved.
    fn write_frames(&mut self, until: u64) -> std::io::Result<()> {
        self.chunk.clear();
        self.frames += self.tracks.drain(until, &mut self.chunk);
        self.out.write_all(&self.chunk)
    }
}

/// The two tracks of a recording not yet on disk.
#[derive(Default)]
pub(super) struct Tracks {
    /// Frame index of `buf[..][0]`: everything before is on disk.
    flushed: u64,
    buf: [Vec<u8>; 2],
    pub(super) unplaced_bytes: u64,
}

impl Tracks {
    fn index(track: Track) -> usize {
        match track {
            Track::Caller => 0,
            Track::Agent => 1,
        }
    }

    pub(super) fn place(&mut self, track: Track, at: u64, audio: &[u8]) {
        let (at, audio) = if at < self.flushed {
            let skip = usize::try_from(self.flushed - at)
                .unwrap_or(usize::MAX)
                .min(audio.len());
            self.unplaced_bytes += skip as u64;
            (self.flushed, &audio[skip..])
        } else {
            (at, audio)
        };
        if audio.is_empty() {
            return;
        }
        let ahead = at - self.flushed;
        if ahead.saturating_add(audio.len() as u64) > AHEAD_LIMIT_FRAMES {
            self.unplaced_bytes += audio.len() as u64;
            return;
        }
        let buf = &mut self.buf[Self::index(track)];
        let start = usize::try_from(ahead).unwrap_or(usize::MAX);
        let end = start + audio.len();
        if buf.len() < end {
            buf.resize(end, SILENCE);
        }
        buf[start..end].copy_from_slice(audio);
    }

    pub(super) fn cut(&mut self, track: Track, from: u64) {
        let buf = &mut self.buf[Self::index(track)];
        let start = usize::try_from(from.saturating_sub(self.flushed)).unwrap_or(usize::MAX);
        if start < buf.len() {
            buf.truncate(start);
        }
    }

    /// Interleaves frames up to `until` (exclusive) into `out`, silence where a track
    /// has nothing; returns how many frames.
    pub(super) fn drain(&mut self, until: u64, out: &mut Vec<u8>) -> u64 {
        let n = until.saturating_sub(self.flushed);
        let n_us = usize::try_from(n).unwrap_or(usize::MAX);
        let start = out.len();
        out.resize(start + n_us * 2, SILENCE);
        for (t, buf) in self.buf.iter().enumerate() {
            let have = n_us.min(buf.len());
            for (frame, &sample) in out[start..].chunks_exact_mut(2).zip(&buf[..have]) {
                frame[t] = sample;
            }
        }
        for b in &mut self.buf {
            let k = n_us.min(b.len());
            b.drain(..k);
        }
        self.flushed += n;
        n
    }

    pub(super) fn end(&self) -> u64 {
        self.flushed + self.buf.iter().map(Vec::len).max().unwrap_or(0) as u64
    }
}
