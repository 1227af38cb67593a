//! Orders inbound media by sequence number. Frames may arrive out of order; a frame is
//! held until the ones before it arrived, for at most `window` frames. A gap that stays
//! open longer is skipped (the missing frames are counted lost); a frame older than
//! what was already released is dropped (counted late). Telnyx numbers every frame of a
//! stream (start, dtmf, mark, ...), so the numbers of non-media frames are consumed with
//! [`Jitter::skip`] and never count as gaps. A number more than [`MAX_AHEAD`] beyond
//! the next expected one makes no sense and is refused ([`Jitter::admits`]), so the
//! held map stays bounded whatever the carrier sends; a steady run of such numbers
//! means the stream's numbering restarted, and the buffer follows it.
//!
//! Frames that may go on are queued in the buffer and taken with [`Jitter::ready`]:
//! the queue is reused, and a frame that comes in order while nothing is held goes
//! straight to it, so the usual frame costs no allocation.

use std::collections::{BTreeMap, VecDeque};

/// How far ahead of the next expected frame a number may be: 10 s of 20 ms frames.
pub const MAX_AHEAD: u64 = 500;
/// Consecutive refused numbers, each one after the other, after which the numbering is
/// taken to have restarted.
const RESYNC_AFTER: u32 = 50;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterStats {
    pub reordered: u64,
    pub late: u64,
    pub lost: u64,
    pub duplicates: u64,
}

#[derive(Debug)]
pub struct Jitter<T> {
    window: usize,
    next: Option<u64>,
    /// `None`: a non-media frame's number.
    held: BTreeMap<u64, Option<T>>,
    /// The last refused number and how many refused numbers ran in a row up to it.
    refused_run: Option<(u64, u32)>,
    /// Released frames, in order, until [`Jitter::ready`] takes them.
    ready: VecDeque<(u64, T)>,
    pub stats: JitterStats,
}

impl<T> Jitter<T> {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            next: None,
            held: BTreeMap::new(),
            refused_run: None,
            ready: VecDeque::new(),
            stats: JitterStats::default(),
        }
    }

    /// The stream's first media frame will be `seq` (from the `start` frame's number).
    pub fn expect(&mut self, seq: u64) {
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// Whether `seq` is a number this stream can have: not more than [`MAX_AHEAD`]
    /// beyond the next expected one. A run of [`RESYNC_AFTER`] refused numbers that
    /// follow one another restarts the numbering at the last of them (what is held is
    /// released by the next push or skip).
    pub fn admits(&mut self, seq: u64) -> bool {
        let Some(next) = self.next else {
            return true;
        };
        if seq <= next.saturating_add(MAX_AHEAD) {
            self.refused_run = None;
            return true;
        }
        let run = match self.refused_run {
            Some((last, n)) if last.checked_add(1) == Some(seq) => n + 1,
            _ => 1,
        };
        if run >= RESYNC_AFTER {
            self.refused_run = None;
            // What is held belongs to the old numbering: given up as lost.
            self.stats.lost += self.held.values().filter(|f| f.is_some()).count() as u64;
            self.held.clear();
            self.next = Some(seq);
            return true;
        }
        self.refused_run = Some((seq, run));
        false
    }

    /// Consumes the number of a non-media frame (media it was holding back becomes
    /// [`Jitter::ready`]).
    pub fn skip(&mut self, seq: u64) {
        if !self.admits(seq) {
            return;
        }
        match self.next {
            Some(next) if seq == next && self.held.is_empty() => self.next = Some(next + 1),
            Some(next) if seq >= next && !self.held.contains_key(&seq) => {
                self.held.insert(seq, None);
                self.release(false);
            }
            _ => {}
        }
    }

    /// Adds frame `seq`; the frames it lets go are [`Jitter::ready`], in order.
    pub fn push(&mut self, seq: u64, frame: T) {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            self.stats.late += 1;
            return;
        }
        if seq == next && self.held.is_empty() {
            self.ready.push_back((seq, frame));
            self.next = Some(next + 1);
            return;
        }
        if self.held.contains_key(&seq) {
            self.stats.duplicates += 1;
            return;
        }
        if seq > next {
            // Ahead of a frame that has not arrived (yet).
            self.stats.reordered += 1;
        }
        self.held.insert(seq, Some(frame));
        self.release(false);
    }

    /// Releases everything held, skipping gaps (end of stream).
    pub fn flush(&mut self) {
        self.release(true);
    }

    /// The next released frame, in order.
    pub fn ready(&mut self) -> Option<(u64, T)> {
        self.ready.pop_front()
    }

    fn release(&mut self, all: bool) {
        while let Some(next) = self.next {
            if let Some(frame) = self.held.remove(&next) {
                if let Some(frame) = frame {
                    self.ready.push_back((next, frame));
                }
                self.next = Some(next + 1);
                continue;
            }
            // A gap: wait unless the window is full (or we are flushing).
            let Some((&first, _)) = self.held.iter().next() else {
                break;
            };
            let media_held = self.held.values().filter(|f| f.is_some()).count();
            if all || media_held >= self.window {
                self.stats.lost += first - next;
                self.next = Some(first);
                continue;
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers of the frames ready now.
    fn ready(j: &mut Jitter<()>) -> Vec<u64> {
        std::iter::from_fn(|| j.ready()).map(|(s, ())| s).collect()
    }

    fn push(j: &mut Jitter<()>, seq: u64) -> Vec<u64> {
        j.push(seq, ());
        ready(j)
    }

    fn skip(j: &mut Jitter<()>, seq: u64) -> Vec<u64> {
        j.skip(seq);
        ready(j)
    }

    fn flush(j: &mut Jitter<()>) -> Vec<u64> {
        j.flush();
        ready(j)
    }

    #[test]
    fn other_frames_numbers_are_no_gaps() {
        let mut j = Jitter::new(2);
        j.expect(2);
        assert_eq!(push(&mut j, 2), vec![2]);
        assert!(push(&mut j, 4).is_empty(), "3 not seen yet");
        assert_eq!(skip(&mut j, 3), vec![4], "3 was a dtmf frame");
        assert!(skip(&mut j, 1).is_empty());
        assert_eq!(j.stats.lost, 0);
        // The first media frame arriving second is not late.
        let mut j = Jitter::new(3);
        j.expect(3);
        assert!(push(&mut j, 4).is_empty());
        assert_eq!(push(&mut j, 3), vec![3, 4]);
        assert_eq!(j.stats.late, 0);
    }

    #[test]
    fn in_order_passes_straight_through() {
        let mut j = Jitter::new(3);
        for s in 1..=5 {
            assert_eq!(push(&mut j, s), vec![s]);
        }
        assert_eq!(j.stats, JitterStats::default());
    }

    #[test]
    fn reordered_frames_come_out_in_order() {
        let mut j = Jitter::new(3);
        assert_eq!(push(&mut j, 1), vec![1]);
        assert!(push(&mut j, 3).is_empty());
        assert_eq!(push(&mut j, 2), vec![2, 3]);
        assert_eq!(j.stats.reordered, 1);
        assert_eq!(j.stats.lost, 0);
    }

    #[test]
    fn a_lasting_gap_is_skipped_and_late_frames_dropped() {
        let mut j = Jitter::new(3);
        assert_eq!(push(&mut j, 1), vec![1]);
        assert!(push(&mut j, 3).is_empty());
        assert!(push(&mut j, 4).is_empty());
        assert_eq!(push(&mut j, 5), vec![3, 4, 5]);
        assert_eq!(j.stats.lost, 1);
        assert!(push(&mut j, 2).is_empty(), "too late");
        assert_eq!(j.stats.late, 1);
        assert!(push(&mut j, 5).is_empty());
        assert_eq!(j.stats.late, 2);
        assert!(push(&mut j, 8).is_empty());
        assert_eq!(flush(&mut j), vec![8]);
        assert_eq!(j.stats.lost, 3);
    }

    #[test]
    fn numbers_far_ahead_are_refused_and_the_held_map_stays_bounded() {
        let mut j = Jitter::new(4);
        j.expect(2);
        assert_eq!(push(&mut j, 2), vec![2]);
        assert!(!j.admits(3 + MAX_AHEAD + 1));
        assert!(j.admits(3 + MAX_AHEAD));
        // Non-media numbers far ahead are ignored, not held.
        for k in 0..10_000u64 {
            assert!(skip(&mut j, 1_000_000 + k * 7).is_empty());
        }
        assert_eq!(j.held.len(), 0);
        assert_eq!(push(&mut j, 3), vec![3]);
    }

    #[test]
    fn a_steady_run_of_new_numbers_restarts_the_numbering() {
        let mut j = Jitter::new(4);
        j.expect(10);
        assert_eq!(push(&mut j, 10), vec![10]);
        assert!(push(&mut j, 12).is_empty(), "11 missing: 12 is held");
        let base = 9_000_000;
        for k in 0..u64::from(RESYNC_AFTER) - 1 {
            assert!(!j.admits(base + k));
        }
        assert!(j.admits(base + u64::from(RESYNC_AFTER) - 1));
        assert_eq!(j.stats.lost, 1, "the held frame of the old numbering");
        assert_eq!(
            push(&mut j, base + u64::from(RESYNC_AFTER) - 1),
            vec![base + u64::from(RESYNC_AFTER) - 1]
        );
    }
}
