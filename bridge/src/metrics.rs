//! Metrics of live calls, registered into the edge's registry. Labels are bounded.

use crate::call::core::Rejection;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

#[derive(Clone)]
pub struct BridgeMetrics {
    pub calls_active: IntGauge,
    /// Media frames by direction (`in` from the caller, `out` to the caller).
    pub frames: IntCounterVec,
    /// Inbound frames not relayed, by reason (late, lost, duplicate, malformed).
    pub frames_dropped: IntCounterVec,
    pub frames_reordered: IntCounter,
    /// Inbound frames that failed validation and were dropped, by reason (see
    /// [`Rejection`]); handles in [`Rejection::ALL`] order.
    pub frames_rejected: IntCounterVec,
    rejected: [IntCounter; 3],
    /// Handles of the labelled counters above, resolved once (the per-frame path does
    /// no label lookups).
    pub frames_in: IntCounter,
    pub frames_out: IntCounter,
    pub dropped_late: IntCounter,
    pub dropped_lost: IntCounter,
    pub dropped_duplicate: IntCounter,
    pub dropped_malformed: IntCounter,
    pub carrier_events_unknown: IntCounter,
    pub agent_events_unknown: IntCounter,
    pub media_auth_failures: IntCounterVec,
    pub agent_connect: Histogram,
    pub agent_failures: IntCounterVec,
    pub first_audio: Histogram,
    pub voice_to_voice: Histogram,
    pub barge_ins: IntCounter,
    pub barge_in_clear: Histogram,
    pub recording_bytes: IntCounter,
    pub recording_dropped: IntCounter,
    pub hangups: IntCounterVec,
    /// Browser WebSocket messages of an unknown type (or not JSON), by endpoint.
    pub browser_unknown: IntCounterVec,
    pub monitor_listeners: IntGauge,
    pub monitor_dropped: IntCounter,
}

impl std::fmt::Debug for BridgeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeMetrics")
    }
}

#[allow(clippy::expect_used)]
fn hist(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("valid metric")
}

// Metric names and help texts are constants: a failure is a bug found at start.
#[allow(clippy::expect_used)]
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

#[allow(clippy::expect_used)]
fn vec(name: &str, help: &str, label: &str, values: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    for x in values {
        v.with_label_values(&[x]);
    }
    v
}

impl BridgeMetrics {
    /// The metric table (one entry per metric; names and help texts are constants).
    #[allow(clippy::too_many_lines, clippy::expect_used)]
    pub fn new() -> Self {
        let frames = vec(
            "agent5_media_frames_total",
            "Media frames relayed, by direction",
            "direction",
            &["in", "out"],
        );
        let frames_dropped = vec(
            "agent5_media_frames_dropped_total",
            "Inbound media frames not relayed, by reason",
            "reason",
            &["late", "lost", "duplicate", "malformed"],
        );
        let frames_rejected = vec(
            "agent5_media_frames_rejected_total",
            "Inbound media frames that made no sense and were dropped, by reason",
            "reason",
            &Rejection::ALL.map(Rejection::label),
        );
        Self {
            rejected: Rejection::ALL.map(|r| frames_rejected.with_label_values(&[r.label()])),
            frames_rejected,
            frames_in: frames.with_label_values(&["in"]),
            frames_out: frames.with_label_values(&["out"]),
            dropped_late: frames_dropped.with_label_values(&["late"]),
            dropped_lost: frames_dropped.with_label_values(&["lost"]),
            dropped_duplicate: frames_dropped.with_label_values(&["duplicate"]),
            dropped_malformed: frames_dropped.with_label_values(&["malformed"]),
            frames,
            frames_dropped,
            calls_active: IntGauge::new("agent5_calls_active", "Calls with a live media stream")
                .expect("valid metric"),
            frames_reordered: counter(
                "agent5_media_frames_reordered_total",
                "Inbound frames that arrived ahead of a missing one",
            ),
            carrier_events_unknown: counter(
                "agent5_media_unknown_events_total",
                "Carrier frames of an unknown event type",
            ),
            agent_events_unknown: counter(
                "agent5_agent_unknown_events_total",
                "Agent events the bridge does not use",
            ),
            media_auth_failures: vec(
                "agent5_media_auth_failures_total",
                "Media streams refused, by reason",
                "reason",
                &[
                    "unknown_call",
                    "missing_token",
                    "wrong_token",
                    "ended",
                    "unavailable",
                ],
            ),
            agent_connect: hist(
                "agent5_agent_connect_seconds",
                "Time to open the agent session",
                LATENCY_BUCKETS,
            ),
            agent_failures: vec(
                "agent5_agent_failures_total",
                "Agent session problems, by kind",
                "kind",
                &["connect", "dropped", "reconnected", "error_event"],
            ),
            first_audio: hist(
                "agent5_agent_first_audio_seconds",
                "From answer to the agent's first audio",
                LATENCY_BUCKETS,
            ),
            voice_to_voice: hist(
                "agent5_voice_to_voice_seconds",
                "From the end of the caller's speech to the agent's first audio",
                LATENCY_BUCKETS,
            ),
            barge_ins: counter(
                "agent5_barge_ins_total",
                "Times the caller interrupted the agent",
            ),
            barge_in_clear: hist(
                "agent5_barge_in_clear_seconds",
                "From the agent's speech_started to our clear",
                &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
            ),
            recording_bytes: counter(
                "agent5_recording_bytes_total",
                "Bytes of finished recordings",
            ),
            recording_dropped: counter(
                "agent5_recording_dropped_total",
                "Audio chunks dropped from recordings because the writer fell behind",
            ),
            monitor_listeners: IntGauge::new("agent5_monitor_listeners", "Listen-in sessions open")
                .expect("valid metric"),
            monitor_dropped: counter(
                "agent5_monitor_dropped_total",
                "Listen-in sessions dropped because the listener could not keep up",
            ),
            browser_unknown: vec(
                "agent5_browser_messages_unknown_total",
                "Browser WebSocket messages of an unknown type, ignored",
                "endpoint",
                &["agent-stream", "monitor", "operator-bridge"],
            ),
            hangups: vec(
                "agent5_bridge_hangups_total",
                "Hang-ups the bridge asked for, by reason",
                "reason",
                &["end_call", "agent_silent", "agent_unavailable"],
            ),
        }
    }

    pub fn register(&self, r: &Registry) -> Result<(), prometheus::Error> {
        r.register(Box::new(self.calls_active.clone()))?;
        r.register(Box::new(self.frames.clone()))?;
        r.register(Box::new(self.frames_dropped.clone()))?;
        r.register(Box::new(self.frames_reordered.clone()))?;
        r.register(Box::new(self.frames_rejected.clone()))?;
        r.register(Box::new(self.carrier_events_unknown.clone()))?;
        r.register(Box::new(self.agent_events_unknown.clone()))?;
        r.register(Box::new(self.media_auth_failures.clone()))?;
        r.register(Box::new(self.agent_connect.clone()))?;
        r.register(Box::new(self.agent_failures.clone()))?;
        r.register(Box::new(self.first_audio.clone()))?;
        r.register(Box::new(self.voice_to_voice.clone()))?;
        r.register(Box::new(self.barge_ins.clone()))?;
        r.register(Box::new(self.barge_in_clear.clone()))?;
        r.register(Box::new(self.recording_bytes.clone()))?;
        r.register(Box::new(self.recording_dropped.clone()))?;
        r.register(Box::new(self.hangups.clone()))?;
        r.register(Box::new(self.browser_unknown.clone()))?;
        r.register(Box::new(self.monitor_listeners.clone()))?;
        r.register(Box::new(self.monitor_dropped.clone()))?;
        Ok(())
    }
}

impl BridgeMetrics {
    /// Counts a dropped frame (no label lookup on the frame path).
    pub fn rejected(&self, why: Rejection) {
        let i = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.rejected[i].inc();
    }
}

impl Default for BridgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The `q` quantile (0..1) of a histogram's observations, estimated as Prometheus's
/// `histogram_quantile` does: linear within the bucket that holds it (the first
/// bucket starts at 0). `None` without observations; a quantile in the last, open
/// bucket is that bucket's lower bound (the largest finite bound).
pub fn quantile(histogram: &Histogram, q: f64) -> Option<f64> {
    let metric = prometheus::core::Metric::metric(histogram);
    let proto = metric.get_histogram();
    let total = proto.get_sample_count();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let (mut lower, mut below) = (0.0f64, 0u64);
    for bucket in proto.get_bucket() {
        let (upper, count) = (bucket.upper_bound(), bucket.cumulative_count());
        if count as f64 >= rank && count > below {
            let within = (rank - below as f64) / (count - below) as f64;
            return Some(lower + (upper - lower) * within);
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

#[cfg(test)]
mod quantile_tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets_like_prometheus() {
        let h = hist("t", "t", &[0.1, 0.2, 0.4, 0.8]);
        assert_eq!(quantile(&h, 0.5), None);
        // 10 in (0, 0.1], 10 in (0.2, 0.4].
        for _ in 0..10 {
            h.observe(0.05);
            h.observe(0.3);
        }
        // The median is the 10th observation: the top of the first bucket.
        assert!((quantile(&h, 0.5).unwrap_or(0.0) - 0.1).abs() < 1e-9);
        // p95 = rank 19: 9/10 of the way through (0.2, 0.4].
        assert!((quantile(&h, 0.95).unwrap_or(0.0) - 0.38).abs() < 1e-9);
        // Past the last finite bound: that bound.
        h.observe(5.0);
        assert!((quantile(&h, 1.0).unwrap_or(0.0) - 0.8).abs() < 1e-9);
    }
}
