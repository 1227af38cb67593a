//! Orders inbound media by sequence number. Frames may arrive out of order; a frame is
//! held until the ones before it arrived, for at most `window` frames. A gap that stays
//! open longer is skipped (the missing frames are counted lost); a frame older than
//! what was already released is dropped (counted late). Telnyx numbers every frame of a
//! stream (start, dtmf, mark, ...), so the numbers of non-media frames are consumed with
//! [`Jitter::skip`] and never count as gaps.

use std::collections::BTreeMap;

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
    pub stats: JitterStats,
}

impl<T> Jitter<T> {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            next: None,
            held: BTreeMap::new(),
            stats: JitterStats::default(),
        }
    }

    /// The stream's first media frame will be `seq` (from the `start` frame's number).
    pub fn expect(&mut self, seq: u64) {
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// Consumes the number of a non-media frame; returns media now releasable.
    pub fn skip(&mut self, seq: u64) -> Vec<(u64, T)> {
        match self.next {
            Some(next) if seq >= next && !self.held.contains_key(&seq) => {
                self.held.insert(seq, None);
                self.release(false)
            }
            _ => Vec::new(),
        }
    }

    /// Adds frame `seq`; returns the frames now releasable, in order.
    pub fn push(&mut self, seq: u64, frame: T) -> Vec<(u64, T)> {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            self.stats.late += 1;
            return Vec::new();
        }
        if self.held.contains_key(&seq) {
            self.stats.duplicates += 1;
            return Vec::new();
        }
        if seq > next {
            // Ahead of a frame that has not arrived (yet).
            self.stats.reordered += 1;
        }
        self.held.insert(seq, Some(frame));
        self.release(false)
    }

    /// Releases everything held, skipping gaps (end of stream).
    pub fn flush(&mut self) -> Vec<(u64, T)> {
        self.release(true)
    }

    fn release(&mut self, all: bool) -> Vec<(u64, T)> {
        let mut out = Vec::new();
        while let Some(next) = self.next {
            if let Some(frame) = self.held.remove(&next) {
                if let Some(frame) = frame {
                    out.push((next, frame));
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
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(v: Vec<(u64, ())>) -> Vec<u64> {
        v.into_iter().map(|(s, ())| s).collect()
    }

    #[test]
    fn other_frames_numbers_are_no_gaps() {
        let mut j = Jitter::new(2);
        j.expect(2);
        assert_eq!(seqs(j.push(2, ())), vec![2]);
        assert!(j.push(4, ()).is_empty(), "3 not seen yet");
        assert_eq!(seqs(j.skip(3)), vec![4], "3 was a dtmf frame");
        assert!(j.skip(1).is_empty());
        assert_eq!(j.stats.lost, 0);
        // The first media frame arriving second is not late.
        let mut j = Jitter::new(3);
        j.expect(3);
        assert!(j.push(4, ()).is_empty());
        assert_eq!(seqs(j.push(3, ())), vec![3, 4]);
        assert_eq!(j.stats.late, 0);
    }

    #[test]
    fn in_order_passes_straight_through() {
        let mut j = Jitter::new(3);
        for s in 1..=5 {
            assert_eq!(seqs(j.push(s, ())), vec![s]);
        }
        assert_eq!(j.stats, JitterStats::default());
    }

    #[test]
    fn reordered_frames_come_out_in_order() {
        let mut j = Jitter::new(3);
        assert_eq!(seqs(j.push(1, ())), vec![1]);
        assert!(j.push(3, ()).is_empty());
        assert_eq!(seqs(j.push(2, ())), vec![2, 3]);
        assert_eq!(j.stats.reordered, 1);
        assert_eq!(j.stats.lost, 0);
    }

    #[test]
    fn a_lasting_gap_is_skipped_and_late_frames_dropped() {
        let mut j = Jitter::new(3);
        assert_eq!(seqs(j.push(1, ())), vec![1]);
        assert!(j.push(3, ()).is_empty());
        assert!(j.push(4, ()).is_empty());
        assert_eq!(seqs(j.push(5, ())), vec![3, 4, 5]);
        assert_eq!(j.stats.lost, 1);
        assert!(j.push(2, ()).is_empty(), "too late");
        assert_eq!(j.stats.late, 1);
        assert!(j.push(5, ()).is_empty());
        assert_eq!(j.stats.late, 2);
        assert!(j.push(8, ()).is_empty());
        assert_eq!(seqs(j.flush()), vec![8]);
        assert_eq!(j.stats.lost, 3);
    }
}
