//! `agent5_dialer_*`: what the dialler decided, by bounded labels (results, skip
//! reasons, dispositions), never campaign ids.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct DialerMetrics {
    /// Carrier requests by result (`ok`, `failed`, `not_dialed`, `store_error`).
    pub dials: IntCounterVec,
    /// Due entries the gate held back, by reason.
    pub skips: IntCounterVec,
    /// Attempts settled, by disposition.
    pub dispositions: IntCounterVec,
    /// Campaigns the dialler paused by itself, by reason.
    pub auto_pauses: IntCounterVec,
    /// Contacts that joined a campaign's dial list.
    pub entries_added: IntCounter,
    /// Campaign leases this node holds.
    pub leases: IntGauge,
    pub tick: Histogram,
}

impl std::fmt::Debug for DialerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DialerMetrics")
    }
}

impl DialerMetrics {
    /// The metric table (names, help texts and labels are constants).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // The names and labels are constants: construction cannot fail.
        let vec = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric")
        };
        Self {
            dials: vec(
                "agent5_dialer_dials_total",
                "Campaign dials by result",
                "result",
            ),
            skips: vec(
                "agent5_dialer_skips_total",
                "Due campaign contacts held back at dial time, by reason",
                "reason",
            ),
            dispositions: vec(
                "agent5_dialer_dispositions_total",
                "Campaign attempts settled, by disposition",
                "disposition",
            ),
            auto_pauses: vec(
                "agent5_dialer_auto_pauses_total",
                "Campaigns paused by the dialler, by reason",
                "reason",
            ),
            entries_added: IntCounter::new(
                "agent5_dialer_entries_added_total",
                "Contacts added to campaign dial lists",
            )
            .expect("valid metric"),
            leases: IntGauge::new(
                "agent5_dialer_leases_held",
                "Campaign leases this appliance holds",
            )
            .expect("valid metric"),
            tick: Histogram::with_opts(
                HistogramOpts::new("agent5_dialer_tick_seconds", "Time of one dialler pass")
                    .buckets(vec![0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            )
            .expect("valid metric"),
        }
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.dials.clone()))?;
        registry.register(Box::new(self.skips.clone()))?;
        registry.register(Box::new(self.dispositions.clone()))?;
        registry.register(Box::new(self.auto_pauses.clone()))?;
        registry.register(Box::new(self.entries_added.clone()))?;
        registry.register(Box::new(self.leases.clone()))?;
        registry.register(Box::new(self.tick.clone()))?;
        Ok(())
    }
}

impl Default for DialerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
