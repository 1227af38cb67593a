//! Where a caller's media frame lands on the call's 8 kHz clock, and which frames make
//! no sense. Telnyx stamps each frame with `timestamp` (milliseconds, a string) from the
//! start of the stream, which is where the call's clock starts too (the `start` frame):
//! a frame lands at its timestamp. Should the first frame say the carrier counts from
//! elsewhere (a stream opened long before the answer), the first frame anchors the
//! carrier's timestamps to the call's clock instead; either way later frames keep their
//! distance from the anchor, so reordering and jitter keep their place. A frame that would land further than
//! [`TOLERANCE_SAMPLES`] from the call's clock (a huge or wrapped value, garbage) is
//! rejected; a steady run of such frames means the carrier's timestamps restarted, and
//! the clock re-anchors on them. Nothing a frame says can place audio outside that
//! window, so nothing downstream (the recorder) sizes a buffer from outside bytes.

/// 8 kHz: samples per millisecond.
const SAMPLES_PER_MS: i128 = 8;
/// How far from the call's clock a frame may land: 10 s.
pub const TOLERANCE_SAMPLES: u64 = 10 * 8000;
/// Consecutive out-of-window frames (1 s of 20 ms frames) after which the carrier's
/// timestamps are taken to have restarted.
pub const RESYNC_AFTER: u32 = 50;

/// The decoded audio of one frame may hold at most 2 s (Telnyx sends 20 ms).
pub const MAX_PAYLOAD_BYTES: usize = 2 * 8000;

#[derive(Debug, Default)]
pub struct MediaClock {
    /// (carrier timestamp in ms, call sample) of the anchoring frame.
    anchor: Option<(u64, u64)>,
    off_run: u32,
    /// How often the clock re-anchored.
    pub resyncs: u64,
}

impl MediaClock {
    /// The sample position of a frame stamped `ts_ms` that arrives when the call's
    /// clock reads `now` (samples); `None` when the frame makes no sense.
    pub fn place(&mut self, ts_ms: u64, now: u64) -> Option<u64> {
        let Some((anchor_ts, anchor_at)) = self.anchor else {
            let at = ts_ms
                .checked_mul(8)
                .filter(|at| at.abs_diff(now) <= TOLERANCE_SAMPLES);
            self.anchor = Some(if at.is_some() { (0, 0) } else { (ts_ms, now) });
            return Some(at.unwrap_or(now));
        };
        let pos =
            i128::from(anchor_at) + (i128::from(ts_ms) - i128::from(anchor_ts)) * SAMPLES_PER_MS;
        if (pos - i128::from(now)).unsigned_abs() <= u128::from(TOLERANCE_SAMPLES) {
            if let Ok(pos) = u64::try_from(pos) {
                self.off_run = 0;
                return Some(pos);
            }
        }
        self.off_run += 1;
        if self.off_run >= RESYNC_AFTER {
            self.anchor = Some((ts_ms, now));
            self.off_run = 0;
            self.resyncs += 1;
            return Some(now);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_land_at_their_timestamp() {
        let mut c = MediaClock::default();
        assert_eq!(c.place(40, 1000), Some(320));
        assert_eq!(c.place(0, 1000), Some(0));
        assert_eq!(c.place(60, 1000), Some(480));
    }

    #[test]
    fn a_carrier_counting_from_elsewhere_is_anchored_where_it_arrived() {
        let mut c = MediaClock::default();
        assert_eq!(
            c.place(123_456, 800),
            Some(800),
            "anchored where it arrived"
        );
        assert_eq!(c.place(123_476, 800), Some(960), "20 ms later");
        assert_eq!(
            c.place(123_436, 960),
            Some(640),
            "a late frame keeps its place"
        );
    }

    #[test]
    fn absurd_timestamps_are_rejected_and_a_steady_restart_resyncs() {
        let mut c = MediaClock::default();
        c.place(0, 0);
        for bad in [10_000_000_000, u64::MAX, 20_000] {
            assert_eq!(c.place(bad, 8000), None, "{bad}");
        }
        assert_eq!(c.place(1000, 8000), Some(8000), "good frames still land");
        // The carrier's timestamps jump back to 0 and stay consistent: after a run of
        // RESYNC_AFTER frames the clock follows them.
        let mut now = 16_000;
        for i in 0..RESYNC_AFTER - 1 {
            assert_eq!(c.place(u64::from(i) * 20 + 5_000_000, now), None);
            now += 160;
        }
        assert_eq!(
            c.place(u64::from(RESYNC_AFTER - 1) * 20 + 5_000_000, now),
            Some(now)
        );
        assert_eq!(c.resyncs, 1);
        assert_eq!(
            c.place(u64::from(RESYNC_AFTER) * 20 + 5_000_000, now + 160),
            Some(now + 160)
        );
    }

    proptest::proptest! {
        /// Whatever the timestamps, a frame lands within the tolerance of the clock.
        #[test]
        fn every_placed_frame_is_near_the_call_clock(
            frames in proptest::collection::vec((proptest::num::u64::ANY, 0u64..10_000_000), 1..200)
        ) {
            let mut c = MediaClock::default();
            for (ts, now) in frames {
                if let Some(at) = c.place(ts, now) {
                    proptest::prop_assert!(at.abs_diff(now) <= TOLERANCE_SAMPLES);
                }
            }
        }
    }
}
