//! Call recordings: one µ-law stereo WAV per call, written off the hot path (the file
//! is created, written and closed by the writer thread, never on a call's). The call
//! task batches placed audio and queues a batch for the process's recording writer
//! every clock tick (at most [`QUEUE`] batches of a recording wait; past that its audio
//! is dropped, for the recording only, and counted); the writer ([`writer`], one
//! thread for all recordings) interleaves the two tracks on the 8 kHz clock with
//! silence where a side is quiet, and rewrites the header sizes every few seconds; the
//! audio itself reaches the file within about a second and a half, so a crash loses
//! that much ([`wav::repair`] fixes the header at start-up).

pub mod wav;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::call::core::Track;
use writer::{Item, Writer};

/// µ-law silence.
const SILENCE: u8 = 0xFF;
/// Batches of one recording that may wait for the writer (16 s of audio at one batch
/// per 250 ms tick).
const QUEUE: usize = 64;
/// Audio is never placed further than this ahead of what is on disk (60 s): a track's
/// buffer is sized by where audio lands, so this bounds it whatever a caller sends
/// (the call core already refuses frames far from the call's clock).
pub const AHEAD_LIMIT_FRAMES: u64 = 60 * 8000;

#[derive(Debug)]
enum Msg {
    /// The next `len` bytes of the batch's audio.
    Audio {
        track: Track,
        at: u64,
        len: usize,
    },
    Cut {
        track: Track,
        from: u64,
    },
    /// The call's clock: frames before `now - LAG` can be written out.
    Clock(u64),
}

/// Messages go to the writer in batches (one per clock tick, not per frame).
const BATCH_LIMIT: usize = 256;

/// A tick's messages, their audio in one buffer: the call's frames are copied in and
/// freed where they were made, and the writer frees two buffers a tick, not one per
/// frame.
#[derive(Debug, Default)]
struct Batch {
    msgs: Vec<Msg>,
    audio: Vec<u8>,
}

impl Batch {
    /// An empty batch sized like `last`, so that a tick's batch is not grown step by step.
    fn like(last: &Batch) -> Self {
        Self {
            msgs: Vec::with_capacity(last.msgs.len()),
            audio: Vec::with_capacity(last.audio.len()),
        }
    }
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    pub path: PathBuf,
    pub bytes: u64,
    pub frames: u64,
    /// Audio the recorder could not place (late beyond the lag, or further ahead of
    /// what is written than [`AHEAD_LIMIT_FRAMES`]).
    pub unplaced_bytes: u64,
}

impl RecordingInfo {
    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(wav::RATE)
    }
}

/// The call task's end of a recording.
pub struct Recorder {
    writer: &'static Writer,
    id: u64,
    batch: Batch,
    /// This recording's batches waiting for the writer.
    pending: Arc<AtomicUsize>,
    /// Finished (or handed over to finish): nothing more is queued.
    closed: bool,
    /// Messages dropped because the writer fell behind.
    pub dropped: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.id)
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl Recorder {
    /// Starts a recording at `path`: the writer creates the file (its directory, the
    /// header) at its next tick, so no file system call waits on a call's thread; if it
    /// cannot, the writer logs it and [`Recorder::finish`] returns the error. Fails
    /// only when the writer is not running.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let writer = Writer::get()
            .ok_or_else(|| std::io::Error::other("the recording writer is not running"))?;
        let id = writer.next_id();
        let pending = Arc::new(AtomicUsize::new(0));
        writer.push(
            Item::Open {
                id,
                path: path.to_path_buf(),
                pending: Arc::clone(&pending),
            },
            false,
        );
        Ok(Self {
            writer,
            id,
            batch: Batch::default(),
            pending,
            closed: false,
            dropped: 0,
        })
    }

    /// Queues the batch for the writer; when [`QUEUE`] of this recording's batches
    /// already wait, drops it instead (counted in `dropped`).
    fn flush(&mut self) -> bool {
        if self.batch.msgs.is_empty() {
            return true;
        }
        if self.pending.load(Ordering::Relaxed) >= QUEUE {
            self.dropped += self.batch.msgs.len() as u64;
            self.batch.msgs.clear();
            self.batch.audio.clear();
            return false;
        }
        let next = Batch::like(&self.batch);
        let batch = std::mem::replace(&mut self.batch, next);
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.writer.push(Item::Batch { id: self.id, batch }, false);
        true
    }

    fn send(&mut self, msg: Msg) -> bool {
        self.batch.msgs.push(msg);
        self.batch.msgs.len() < BATCH_LIMIT || self.flush()
    }

    /// Places audio (copied into the batch); `false` when it was dropped (the writer
    /// is behind).
    pub fn audio(&mut self, track: Track, at: u64, audio: &[u8]) -> bool {
        self.batch.audio.extend_from_slice(audio);
        let len = audio.len();
        self.send(Msg::Audio { track, at, len })
    }

    pub fn cut(&mut self, track: Track, from: u64) {
        self.send(Msg::Cut { track, from });
    }

    pub fn clock(&mut self, now: u64) {
        self.batch.msgs.push(Msg::Clock(now));
        self.flush();
    }

    /// Queues what is left (never dropped: the end waits for the writer) and the
    /// close, and wakes the writer.
    fn close(&mut self, done: Option<oneshot::Sender<std::io::Result<RecordingInfo>>>) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if !self.batch.msgs.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.writer.push(Item::Batch { id: self.id, batch }, false);
        }
        self.writer.push(Item::Finish { id: self.id, done }, true);
    }

    /// Writes everything out and closes the file.
    pub async fn finish(mut self) -> std::io::Result<RecordingInfo> {
        let (done, result) = oneshot::channel();
        self.close(Some(done));
        result
            .await
            .map_err(|_| std::io::Error::other("the recording writer stopped"))?
    }
}

impl Drop for Recorder {
    /// A recorder dropped unfinished (its call task cancelled) still closes its file.
    fn drop(&mut self) {
        self.close(None);
    }
}

/// Starts the recordings' writer thread now, from the calling thread (it starts on
/// first use otherwise): a thread inherits its creator's scheduling priority, and the
/// writer must keep the service's own, not the blocking pool's lowered one. `false`
/// when the thread cannot start.
pub fn start_writer() -> bool {
    Writer::get().is_some()
}

/// Repairs every recording in `dir` left unfinished by a crash; returns how many.
pub fn repair_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut repaired = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        match wav::repair(&path) {
            Ok(true) => {
                repaired += 1;
                tracing::warn!(file = %path.display(), "recording header repaired after an unclean stop");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "recording could not be checked")
            }
        }
    }
    repaired
}

/// Deletes recordings older than `days` in `dir`; returns how many.
pub fn sweep(dir: &Path, days: u64) -> usize {
    sweep_at(dir, days, std::time::SystemTime::now())
}

/// [`sweep`] with the clock given. Age is measured from `now`, or from the newest
/// recording when that is older: a clock that jumps years ahead (a bad NTP source, a
/// dead RTC battery) must not make every recording look expired at once.
fn sweep_at(dir: &Path, days: u64, now: std::time::SystemTime) -> usize {
    if days == 0 {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let recordings: Vec<(std::path::PathBuf, std::time::SystemTime)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("wav"))
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
            Some((p, modified))
        })
        .collect();
    let newest = recordings.iter().map(|(_, t)| *t).max().unwrap_or(now);
    let Some(cutoff) = now
        .min(newest)
        .checked_sub(Duration::from_secs(days.saturating_mul(86_400)))
    else {
        return 0;
    };
    recordings
        .iter()
        .filter(|(path, modified)| *modified < cutoff && std::fs::remove_file(path).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn interleaves_tracks_with_silence_and_cuts() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.wav");
        let mut r = Recorder::create(&path).expect("create");
        r.audio(Track::Caller, 0, &[1; 4]);
        r.audio(Track::Agent, 2, &[9; 6]);
        r.cut(Track::Agent, 5);
        r.audio(Track::Caller, 6, &[2; 2]);
        let info = r.finish().await.expect("finish");
        assert_eq!(info.frames, 8);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len() as u64, wav::HEADER_LEN + 16);
        assert_eq!(
            &bytes[58..],
            &[1, 0xFF, 1, 0xFF, 1, 9, 1, 9, 0xFF, 9, 0xFF, 0xFF, 2, 0xFF, 2, 0xFF]
        );
        let mut h = [0u8; 58];
        h.copy_from_slice(&bytes[..58]);
        assert_eq!(h, wav::header(8), "final header sizes");
    }

    #[tokio::test]
    async fn audio_far_ahead_is_not_placed_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut r = Recorder::create(&dir.path().join("c.wav")).expect("create");
        r.audio(Track::Caller, 0, &[1; 160]);
        // What a timestamp of 1e10 ms would ask for, and a wrapped one.
        r.audio(Track::Caller, 80_000_000_000, &[2; 160]);
        r.audio(Track::Agent, u64::MAX - 10, &[3; 160]);
        r.audio(Track::Agent, AHEAD_LIMIT_FRAMES - 160, &[4; 160]);
        let info = r.finish().await.expect("finish");
        assert_eq!(info.unplaced_bytes, 320);
        assert_eq!(
            info.frames, AHEAD_LIMIT_FRAMES,
            "the last placeable frame is kept"
        );
    }

    #[tokio::test]
    async fn a_recording_that_cannot_be_created_fails_at_its_finish_and_frees_its_queue() {
        let dir = tempfile::tempdir().expect("tmp");
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"x").expect("write");
        // The writer creates the file; the call's side learns of the failure at the end.
        let mut r = Recorder::create(&not_a_dir.join("c.wav")).expect("create");
        let pending = Arc::clone(&r.pending);
        for i in 0..4 {
            r.audio(Track::Caller, i * 160, &[1; 160]);
            r.clock(i * 160 + 160);
        }
        assert_eq!(r.dropped, 0);
        assert!(r.finish().await.is_err(), "the creation's error at the end");
        assert_eq!(
            pending.load(Ordering::Relaxed),
            0,
            "its batches were taken, not left counting against the queue"
        );
    }

    #[tokio::test]
    async fn a_recorder_dropped_unfinished_still_closes_its_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.wav");
        let mut r = Recorder::create(&path).expect("create");
        r.audio(Track::Caller, 0, &[1; 160]);
        r.audio(Track::Agent, 0, &[2; 80]);
        drop(r);
        // The writer takes its queue in order: once a recording queued after the drop
        // is finished, the dropped one has been closed.
        let later = Recorder::create(&dir.path().join("later.wav")).expect("create");
        later.finish().await.expect("finish");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len() as u64, wav::HEADER_LEN + 320);
        assert_eq!(bytes[..58], wav::header(160)[..], "final header sizes");
        assert_eq!(&bytes[58..62], &[1, 2, 1, 2]);
    }

    #[tokio::test]
    async fn a_recording_whose_writer_is_behind_drops_its_audio_and_counts_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut r = Recorder::create(&dir.path().join("c.wav")).expect("create");
        // As if QUEUE batches of this recording were still waiting for the writer.
        r.pending.fetch_add(QUEUE, Ordering::Relaxed);
        r.audio(Track::Caller, 0, &[1; 160]);
        r.clock(160);
        assert_eq!(r.dropped, 2, "the audio and the clock tick");
        r.pending.fetch_sub(QUEUE, Ordering::Relaxed);
        r.audio(Track::Caller, 160, &[2; 160]);
        let info = r.finish().await.expect("finish");
        assert_eq!(
            info.frames, 320,
            "what was dropped is silence, what came later is kept"
        );
    }

    /// Files aged relative to now (never a literal date): the sweep removes what is
    /// past the retention, keeps the rest and anything that is not a recording, and a
    /// clock thrown years ahead removes nothing the newest recording does not age out.
    #[test]
    fn the_retention_sweep_ages_recordings_from_now_or_the_newest_one() {
        use std::time::SystemTime;
        const DAY: Duration = Duration::from_secs(86_400);
        let dir = tempfile::tempdir().expect("tmp");
        let now = SystemTime::now();
        let file = |name: &str, age: Duration| {
            let path = dir.path().join(name);
            let f = std::fs::File::create(&path).expect("create");
            f.set_modified(now - age).expect("mtime");
        };
        file("old.wav", 40 * DAY);
        file("recent.wav", 5 * DAY);
        file("new.wav", Duration::ZERO);
        file("old.txt", 400 * DAY);
        assert_eq!(sweep_at(dir.path(), 0, now), 0, "0 days keeps everything");
        // Four years ahead: only what is 30 days older than the newest recording goes.
        assert_eq!(sweep_at(dir.path(), 30, now + 4 * 365 * DAY), 1);
        let left = |d: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(d)
                .expect("dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(left(dir.path()), ["new.wav", "old.txt", "recent.wav"]);
        assert_eq!(sweep_at(dir.path(), 3, now), 1);
        assert_eq!(left(dir.path()), ["new.wav", "old.txt"]);
        assert_eq!(sweep(dir.path(), 3), 0, "the real clock agrees");
    }
}
