//! Call recordings: one µ-law stereo WAV per call, written off the hot path. The call
//! task batches placed audio and hands a batch to the writer every clock tick through a
//! bounded channel (a full channel drops audio for the recording only, and counts it); a writer thread interleaves the two tracks on the
//! 8 kHz clock with silence where a side is quiet, and rewrites the header sizes every
//! few seconds; the audio itself reaches the file within a second, so a crash loses
//! about a second ([`wav::repair`] fixes the header at start-up).

pub mod wav;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::call::core::Track;

/// µ-law silence.
const SILENCE: u8 = 0xFF;
const QUEUE: usize = 64;
/// Header sizes are rewritten at least this often.
const HEADER_EVERY: Duration = Duration::from_secs(3);
/// Audio may still be placed this far behind the call's clock (jitter, late frames).
const LAG_FRAMES: u64 = 8000;
/// Audio is never placed further than this ahead of what is on disk (60 s): a track's
/// buffer is sized by where audio lands, so this bounds it whatever a caller sends
/// (the call core already refuses frames far from the call's clock).
pub const AHEAD_LIMIT_FRAMES: u64 = 60 * 8000;

#[derive(Debug)]
enum Msg {
    Audio {
        track: Track,
        at: u64,
        audio: Vec<u8>,
    },
    Cut {
        track: Track,
        from: u64,
    },
    /// The call's clock: frames before `now - LAG` can be written out.
    Clock(u64),
}

/// Messages go to the writer in batches (one wake-up per clock tick, not per frame).
const BATCH_LIMIT: usize = 256;

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
    tx: mpsc::Sender<Vec<Msg>>,
    batch: Vec<Msg>,
    done: tokio::task::JoinHandle<std::io::Result<RecordingInfo>>,
    /// Messages dropped because the writer fell behind.
    pub dropped: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl Recorder {
    /// Creates `path` and starts its writer on a blocking thread.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = File::create(path)?;
        file.write_all(&wav::header(0))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let path = path.to_path_buf();
        let done = tokio::task::spawn_blocking(move || write_loop(file, path, rx));
        Ok(Self {
            tx,
            batch: Vec::new(),
            done,
            dropped: 0,
        })
    }

    /// Hands the batch to the writer; a full queue drops it (counted in `dropped`).
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        if self.tx.try_send(batch).is_err() {
            self.dropped += n;
            return false;
        }
        true
    }

    fn send(&mut self, msg: Msg) -> bool {
        self.batch.push(msg);
        self.batch.len() < BATCH_LIMIT || self.flush()
    }

    /// Places audio; `false` when it was dropped (the writer is behind).
    pub fn audio(&mut self, track: Track, at: u64, audio: Vec<u8>) -> bool {
        self.send(Msg::Audio { track, at, audio })
    }

    pub fn cut(&mut self, track: Track, from: u64) {
        self.send(Msg::Cut { track, from });
    }

    pub fn clock(&mut self, now: u64) {
        self.batch.push(Msg::Clock(now));
        self.flush();
    }

    /// Writes everything out and closes the file.
    pub async fn finish(mut self) -> std::io::Result<RecordingInfo> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            // The last batch waits for room: nothing is dropped at the end.
            let _ = self.tx.send(batch).await;
        }
        drop(self.tx);
        self.done
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

struct Tracks {
    /// Frame index of `buf[..][0]`: everything before is on disk.
    flushed: u64,
    buf: [Vec<u8>; 2],
    unplaced_bytes: u64,
}

impl Tracks {
    fn index(track: Track) -> usize {
        match track {
            Track::Caller => 0,
            Track::Agent => 1,
        }
    }

    fn place(&mut self, track: Track, at: u64, audio: &[u8]) {
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

    fn cut(&mut self, track: Track, from: u64) {
        let buf = &mut self.buf[Self::index(track)];
        let start = usize::try_from(from.saturating_sub(self.flushed)).unwrap_or(usize::MAX);
        if start < buf.len() {
            buf.truncate(start);
        }
    }

    /// Interleaves frames up to `until` (exclusive) into `out`.
    fn drain(&mut self, until: u64, out: &mut Vec<u8>) -> u64 {
        let n = until.saturating_sub(self.flushed);
        let n_us = usize::try_from(n).unwrap_or(usize::MAX);
        out.reserve(n_us * 2);
        for i in 0..n_us {
            out.push(self.buf[0].get(i).copied().unwrap_or(SILENCE));
            out.push(self.buf[1].get(i).copied().unwrap_or(SILENCE));
        }
        for b in &mut self.buf {
            let k = n_us.min(b.len());
            b.drain(..k);
        }
        self.flushed += n;
        n
    }

    fn end(&self) -> u64 {
        self.flushed + self.buf.iter().map(Vec::len).max().unwrap_or(0) as u64
    }
}

fn write_loop(
    file: File,
    path: PathBuf,
    mut rx: mpsc::Receiver<Vec<Msg>>,
) -> std::io::Result<RecordingInfo> {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut tracks = Tracks {
        flushed: 0,
        buf: [Vec::new(), Vec::new()],
        unplaced_bytes: 0,
    };
    let mut frames = 0u64;
    let mut last_header = Instant::now();
    let mut chunk = Vec::new();
    while let Some(batch) = rx.blocking_recv() {
        for msg in batch {
            match msg {
                Msg::Audio { track, at, audio } => tracks.place(track, at, &audio),
                Msg::Cut { track, from } => tracks.cut(track, from),
                Msg::Clock(now) => {
                    chunk.clear();
                    frames += tracks.drain(now.saturating_sub(LAG_FRAMES), &mut chunk);
                    out.write_all(&chunk)?;
                    // On disk (page cache) at once: a crash then loses only the lag.
                    out.flush()?;
                    if last_header.elapsed() >= HEADER_EVERY {
                        wav::update_header(out.get_mut(), frames)?;
                        last_header = Instant::now();
                    }
                }
            }
        }
    }
    chunk.clear();
    let end = tracks.end();
    frames += tracks.drain(end, &mut chunk);
    out.write_all(&chunk)?;
    out.flush()?;
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    wav::update_header(&mut file, frames)?;
    file.sync_all()?;
    Ok(RecordingInfo {
        path,
        bytes: wav::HEADER_LEN + frames * u64::from(wav::BLOCK_ALIGN),
        frames,
        unplaced_bytes: tracks.unplaced_bytes,
    })
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
        r.audio(Track::Caller, 0, vec![1; 4]);
        r.audio(Track::Agent, 2, vec![9; 6]);
        r.cut(Track::Agent, 5);
        r.audio(Track::Caller, 6, vec![2; 2]);
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
        r.audio(Track::Caller, 0, vec![1; 160]);
        // What a timestamp of 1e10 ms would ask for, and a wrapped one.
        r.audio(Track::Caller, 80_000_000_000, vec![2; 160]);
        r.audio(Track::Agent, u64::MAX - 10, vec![3; 160]);
        r.audio(Track::Agent, AHEAD_LIMIT_FRAMES - 160, vec![4; 160]);
        let info = r.finish().await.expect("finish");
        assert_eq!(info.unplaced_bytes, 320);
        assert_eq!(
            info.frames, AHEAD_LIMIT_FRAMES,
            "the last placeable frame is kept"
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
