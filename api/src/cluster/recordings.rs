//! Recordings copied into the store as their calls go on (several appliances,
//! docs/cluster.md), and read back from it by an appliance that does not hold the file.
//!
//! The appliance holding a call appends the new audio of its recording file to the
//! store every interval (and once more when the recording is finished), as parts
//! keyed by where they start in the WAV's data. Only whole stereo frames are copied,
//! never the header (rewritten as the file grows; rebuilt from the length when read).
//! Losing the appliance loses at most the last interval of audio. Another appliance
//! serves the recording by assembling the parts into a private temporary file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent5_bridge::recording::wav;
use prometheus::{IntCounter, Registry};

use crate::model::RecordingPart;
use crate::store::{SharedStore, StoreError, StoreResult};

/// Largest part written (a store document or row); a call copies 80 KiB per 5 s.
pub const PART_MAX: usize = 512 * 1024;
/// Most bytes one call copies per pass (a copy that fell behind catches up in steps).
const PASS_MAX: u64 = 16 * 1024 * 1024;
/// Parts read per store round trip when assembling.
const READ_PAGE: usize = 8;
/// Where assembled copies are written (under the recordings directory), unlinked as
/// soon as they are open.
pub const COPIES_DIR: &str = ".copies";

/// `agent5_cluster_recording_*`.
#[derive(Clone)]
pub struct CopyMetrics {
    pub bytes: IntCounter,
    pub failures: IntCounter,
}

impl std::fmt::Debug for CopyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CopyMetrics")
    }
}

impl CopyMetrics {
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // Constant names: construction cannot fail.
        Self {
            bytes: IntCounter::new(
                "agent5_cluster_recording_bytes_copied_total",
                "Recording audio copied into the store",
            )
            .expect("valid metric"),
            failures: IntCounter::new(
                "agent5_cluster_recording_copy_failures_total",
                "Recording copies into the store that failed (retried at the next pass)",
            )
            .expect("valid metric"),
        }
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.bytes.clone()))?;
        registry.register(Box::new(self.failures.clone()))?;
        Ok(())
    }
}

impl Default for CopyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies this appliance's recordings into the store.
pub struct RecordingCopies {
    store: SharedStore,
    dir: PathBuf,
    every: Duration,
    /// Per call being copied, the data offset copied so far. One lock for every copy,
    /// held while a call is copied: two copies of one call never interleave (they
    /// would write parts that overlap).
    copied: tokio::sync::Mutex<HashMap<String, u64>>,
    metrics: CopyMetrics,
}

impl std::fmt::Debug for RecordingCopies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingCopies")
            .field("dir", &self.dir)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl RecordingCopies {
    pub fn new(store: SharedStore, dir: PathBuf, every: Duration, metrics: CopyMetrics) -> Self {
        Self {
            store,
            dir,
            every,
            copied: tokio::sync::Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Copies the live calls' new audio every interval, forever.
    pub async fn run(self: Arc<Self>, bridge: agent5_bridge::Bridge) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for call in bridge.live().list() {
                self.copy(&call.call_id, false).await;
            }
        }
    }

    /// The recording of `call_id` is finished: copies the rest and forgets the call.
    pub async fn finish(&self, call_id: &str) {
        self.copy(call_id, true).await;
    }

    /// Copies what was written since the last copy. Failures are logged and counted;
    /// the next pass starts again from what the store holds.
    async fn copy(&self, call_id: &str, last: bool) {
        let mut copied = self.copied.lock().await;
        let from = match copied.get(call_id) {
            Some(at) => *at,
            None => match self.store.recording_stored_end(call_id).await {
                Ok(end) => end.unwrap_or(0),
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::warn!(call_id, error = %e, "recording copy: store unreachable");
                    return;
                }
            },
        };
        let path = self.dir.join(format!("{call_id}.wav"));
        match self.copy_from(call_id, &path, from).await {
            Ok(at) if last => {
                copied.remove(call_id);
                tracing::debug!(call_id, bytes = at, "recording copied");
            }
            Ok(at) => {
                copied.insert(call_id.to_owned(), at);
            }
            Err(e) => {
                self.metrics.failures.inc();
                tracing::warn!(call_id, error = %e, "recording copy failed; retried at the next pass");
                copied.remove(call_id);
            }
        }
    }

    /// Appends the whole frames of `path` past data offset `from` (bounded per pass);
    /// returns the data offset copied up to.
    async fn copy_from(&self, call_id: &str, path: &Path, from: u64) -> StoreResult<u64> {
        let mut at = from;
        loop {
            let (p, want) = (path.to_owned(), at);
            let chunk = crate::background::spawn(move || read_frames(&p, want, PART_MAX))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .map_err(|e| StoreError::Unavailable(format!("reading the recording: {e}")))?;
            if chunk.is_empty() {
                return Ok(at);
            }
            let len = chunk.len() as u64;
            self.store
                .put_recording_part(RecordingPart {
                    call_id: call_id.to_owned(),
                    offset: at,
                    data: chunk,
                })
                .await?;
            self.metrics.bytes.inc_by(len);
            at += len;
            if at - from >= PASS_MAX {
                return Ok(at);
            }
        }
    }
}

/// Up to `max` bytes of whole stereo frames of the recording's data from `from` (empty
/// when there are none yet, or no file: the call was not answered).
fn read_frames(path: &Path, from: u64, max: usize) -> std::io::Result<Vec<u8>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let data_len = file.metadata()?.len().saturating_sub(wav::HEADER_LEN);
    let available = data_len.saturating_sub(from);
    let take = available.min(max as u64);
    let take = take - take % u64::from(wav::BLOCK_ALIGN);
    if take == 0 {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(wav::HEADER_LEN + from))?;
    let mut buf = vec![0u8; usize::try_from(take).unwrap_or(0)];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The stored copy of `call_id`'s recording as an open file (a WAV whose header
/// matches the audio stored), or `None` when nothing of it is in the store. The file
/// lives in `dir/.copies` only until it is open.
pub async fn assemble(
    store: &SharedStore,
    dir: &Path,
    call_id: &str,
) -> StoreResult<Option<tokio::fs::File>> {
    if store.recording_stored_end(call_id).await?.is_none() {
        return Ok(None);
    }
    let copies = dir.join(COPIES_DIR);
    let path = copies.join(format!("{call_id}.{}.wav", crate::model::new_id()));
    let io = |e: std::io::Error| StoreError::Unavailable(format!("assembling the recording: {e}"));
    tokio::fs::create_dir_all(&copies).await.map_err(io)?;
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    // Unlinked at once: the open file is all that remains, whatever happens next.
    let _ = std::fs::remove_file(&path);
    out.write_all(&wav::header(0)).map_err(io)?;
    let mut at = 0u64;
    loop {
        let parts = store.recording_parts(call_id, at, READ_PAGE).await?;
        let full_page = parts.len() == READ_PAGE;
        let mut gap = false;
        for part in parts {
            // A gap (a part not stored yet): what is whole up to there is served.
            gap = part.offset != at;
            if gap {
                break;
            }
            at = part.end();
            out.write_all(&part.data).map_err(io)?;
        }
        if gap || !full_page {
            break;
        }
    }
    wav::update_header(&out, at / u64::from(wav::BLOCK_ALIGN)).map_err(io)?;
    out.flush().map_err(io)?;
    out.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Some(tokio::fs::File::from_std(out)))
}

/// Removes assembled copies a crash left behind (they are unlinked once open).
pub fn clear_copies(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join(COPIES_DIR));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_frames_past_the_offset_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.wav");
        assert!(read_frames(&path, 0, 100).expect("no file").is_empty());
        let mut bytes = wav::header(0).to_vec();
        bytes.extend([1, 2, 3, 4, 5]); // two frames and half of one
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(read_frames(&path, 0, 100).expect("read"), vec![1, 2, 3, 4]);
        assert_eq!(read_frames(&path, 2, 100).expect("read"), vec![3, 4]);
        assert_eq!(read_frames(&path, 0, 3).expect("read"), vec![1, 2]);
        assert!(read_frames(&path, 4, 100).expect("read").is_empty());
    }
}
