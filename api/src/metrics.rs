//! Metrics of the API crate, registered into the edge's Prometheus registry. Label
//! values are bounded (reasons, event kinds, commands, statuses), never ids.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use crate::integrations::telnyx::events::EventKind;
use crate::integrations::telnyx::signature::Rejection;
use crate::model::CallStatus;

#[derive(Clone)]
pub struct ApiMetrics {
    /// Webhook deliveries by outcome: accepted, duplicate, rejected, busy, invalid.
    pub webhooks: IntCounterVec,
    pub webhook_rejections: IntCounterVec,
    /// Processed webhook events by type (unknown types are `other`).
    pub webhook_events: IntCounterVec,
    pub webhook_processing: Histogram,
    /// Webhook events whose call we do not know.
    pub webhook_orphans: IntCounter,
    /// Call Control commands by command and result (ok, error).
    pub telnyx_commands: IntCounterVec,
    /// Calls that reached an end status, by status.
    pub calls_ended: IntCounterVec,
    /// Dial requests refused, by reason (opted_out, capacity, carrier).
    pub dials_refused: IntCounterVec,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiMetrics")
    }
}

impl ApiMetrics {
    /// The metric table (names, help texts and labels are constants).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // The names and labels are constants: construction cannot fail.
        let vec = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric")
        };
        let webhooks = vec(
            "agent5_telnyx_webhooks_total",
            "Telnyx webhook deliveries by outcome",
            "outcome",
        );
        let webhook_rejections = vec(
            "agent5_telnyx_webhook_rejections_total",
            "Telnyx webhook deliveries refused, by reason",
            "reason",
        );
        let webhook_events = vec(
            "agent5_telnyx_webhook_events_total",
            "Telnyx webhook events processed, by type",
            "type",
        );
        let telnyx_commands = IntCounterVec::new(
            Opts::new(
                "agent5_telnyx_commands_total",
                "Call Control commands sent, by command and result",
            ),
            &["command", "result"],
        )
        .expect("valid metric");
        let calls_ended = vec(
            "agent5_calls_ended_total",
            "Calls that reached an end status, by status",
            "status",
        );
        let dials_refused = vec(
            "agent5_calls_refused_total",
            "POST /api/calls requests refused, by reason",
            "reason",
        );
        for r in Rejection::ALL {
            webhook_rejections.with_label_values(&[r.reason()]);
        }
        for o in ["accepted", "duplicate", "rejected", "busy", "invalid"] {
            webhooks.with_label_values(&[o]);
        }
        for k in EventKind::ALL {
            webhook_events.with_label_values(&[k.label()]);
        }
        for s in CallStatus::ALL.iter().filter(|s| !s.is_live()) {
            calls_ended.with_label_values(&[s.as_str()]);
        }
        for r in ["opted_out", "capacity", "carrier"] {
            dials_refused.with_label_values(&[r]);
        }
        Self {
            webhooks,
            webhook_rejections,
            webhook_events,
            webhook_processing: Histogram::with_opts(
                HistogramOpts::new(
                    "agent5_telnyx_webhook_processing_seconds",
                    "Time to process one webhook event after it was recorded",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )
            .expect("valid metric"),
            webhook_orphans: IntCounter::new(
                "agent5_telnyx_webhook_orphans_total",
                "Webhook events for calls this appliance does not know",
            )
            .expect("valid metric"),
            telnyx_commands,
            calls_ended,
            dials_refused,
        }
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.webhooks.clone()))?;
        registry.register(Box::new(self.webhook_rejections.clone()))?;
        registry.register(Box::new(self.webhook_events.clone()))?;
        registry.register(Box::new(self.webhook_processing.clone()))?;
        registry.register(Box::new(self.webhook_orphans.clone()))?;
        registry.register(Box::new(self.telnyx_commands.clone()))?;
        registry.register(Box::new(self.calls_ended.clone()))?;
        registry.register(Box::new(self.dials_refused.clone()))?;
        Ok(())
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
