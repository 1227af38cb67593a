//! The WAV layout of a recording: G.711 µ-law, 8 kHz, stereo (left caller, right
//! agent), as sox writes it: an 18-byte `fmt ` chunk with format tag 7, a `fact` chunk
//! with the frame count, then `data`. The sizes in the header are rewritten as the file
//! grows; [`repair`] fixes them after a crash from the file's real length.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const CHANNELS: u16 = 2;
pub const RATE: u32 = 8000;
pub const FORMAT_MULAW: u16 = 7;
pub const HEADER_LEN: u64 = 58;
/// Bytes per stereo frame.
pub const BLOCK_ALIGN: u16 = CHANNELS;

/// The header for `frames` stereo frames.
pub fn header(frames: u64) -> [u8; HEADER_LEN as usize] {
    let data = u32::try_from(frames * u64::from(BLOCK_ALIGN)).unwrap_or(u32::MAX);
    let frames32 = u32::try_from(frames).unwrap_or(u32::MAX);
    let mut h = [0u8; HEADER_LEN as usize];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"RIFF");
    put(&(data.saturating_add(50)).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&18u32.to_le_bytes());
    put(&FORMAT_MULAW.to_le_bytes());
    put(&CHANNELS.to_le_bytes());
    put(&RATE.to_le_bytes());
    put(&(RATE * u32::from(BLOCK_ALIGN)).to_le_bytes());
    put(&BLOCK_ALIGN.to_le_bytes());
    put(&8u16.to_le_bytes());
    put(&0u16.to_le_bytes());
    put(b"fact");
    put(&4u32.to_le_bytes());
    put(&frames32.to_le_bytes());
    put(b"data");
    put(&data.to_le_bytes());
    h
}

/// Rewrites the header of an open recording for `frames` frames: one positioned write
/// (`pwrite`), the file's position untouched (the file is not opened for appending,
/// where Linux would ignore the offset).
pub fn update_header(file: &File, frames: u64) -> std::io::Result<()> {
    file.write_all_at(&header(frames), 0)
}

/// Whether the file is one of ours and what its header says: `Some(frames)`.
fn header_frames(h: &[u8; HEADER_LEN as usize]) -> Option<u64> {
    let ours = &h[0..4] == b"RIFF"
        && &h[8..12] == b"WAVE"
        && &h[12..16] == b"fmt "
        && u16::from_le_bytes([h[20], h[21]]) == FORMAT_MULAW
        && &h[38..42] == b"fact"
        && &h[50..54] == b"data";
    ours.then(|| {
        u64::from(u32::from_le_bytes([h[54], h[55], h[56], h[57]])) / u64::from(BLOCK_ALIGN)
    })
}

/// Fixes the sizes of a recording whose writer stopped before its last header update
/// (a crash): the data is whatever whole frames the file holds. Returns `Ok(true)` if
/// the header was rewritten, `Ok(false)` if it was right or the file is not ours.
pub fn repair(path: &Path) -> std::io::Result<bool> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = file.metadata()?.len();
    if len < HEADER_LEN {
        return Ok(false);
    }
    let mut h = [0u8; HEADER_LEN as usize];
    file.read_exact(&mut h)?;
    let Some(claimed) = header_frames(&h) else {
        return Ok(false);
    };
    let frames = (len - HEADER_LEN) / u64::from(BLOCK_ALIGN);
    if claimed == frames && len == HEADER_LEN + frames * u64::from(BLOCK_ALIGN) {
        return Ok(false);
    }
    file.set_len(HEADER_LEN + frames * u64::from(BLOCK_ALIGN))?;
    update_header(&file, frames)?;
    file.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_header_update_leaves_the_write_position_where_it_was() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("r.wav");
        let mut file = File::create(&path).expect("create");
        file.write_all(&header(0)).expect("header");
        file.write_all(&[1, 2, 3, 4]).expect("audio");
        update_header(&file, 2).expect("update");
        file.write_all(&[5, 6, 7, 8]).expect("more audio");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len() as u64, HEADER_LEN + 8);
        assert_eq!(bytes[..HEADER_LEN as usize], header(2)[..]);
        assert_eq!(&bytes[HEADER_LEN as usize..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn header_fields_are_the_ulaw_layout() {
        let h = header(8000);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([h[4], h[5], h[6], h[7]]), 50 + 16_000);
        assert_eq!(u16::from_le_bytes([h[20], h[21]]), 7);
        assert_eq!(u16::from_le_bytes([h[22], h[23]]), 2);
        assert_eq!(u32::from_le_bytes([h[24], h[25], h[26], h[27]]), 8000);
        assert_eq!(u32::from_le_bytes([h[28], h[29], h[30], h[31]]), 16_000);
        assert_eq!(u16::from_le_bytes([h[32], h[33]]), 2);
        assert_eq!(u16::from_le_bytes([h[34], h[35]]), 8);
        assert_eq!(u32::from_le_bytes([h[46], h[47], h[48], h[49]]), 8000);
        assert_eq!(u32::from_le_bytes([h[54], h[55], h[56], h[57]]), 16_000);
        assert_eq!(header_frames(&h), Some(8000));
    }

    #[test]
    fn repair_fixes_a_truncated_header() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.wav");
        let mut bytes = header(10).to_vec();
        bytes.extend(vec![0xFF; 2 * 500 + 1]);
        std::fs::write(&path, &bytes).expect("write");
        assert!(repair(&path).expect("repair"));
        let fixed = std::fs::read(&path).expect("read");
        assert_eq!(fixed.len() as u64, HEADER_LEN + 1000);
        let mut h = [0u8; 58];
        h.copy_from_slice(&fixed[..58]);
        assert_eq!(header_frames(&h), Some(500));
        assert!(!repair(&path).expect("again"), "nothing to do twice");
        std::fs::write(
            dir.path().join("x.wav"),
            b"not a wav at all, but long enough to read a header from it......",
        )
        .expect("w");
        assert!(!repair(&dir.path().join("x.wav")).expect("foreign"));
    }
}
