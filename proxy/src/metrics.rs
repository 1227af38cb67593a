//! Prometheus metrics of the edge, in one registry that the api and bridge crates
//! register into as well, rendered by `/metrics` in the text exposition format.
//!
//! Names follow Prometheus conventions (`agent5_*_total`, `_seconds`, `_bytes`) and label
//! values are bounded (route classes, a fixed method set, status codes) so cardinality
//! cannot grow with traffic.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::router::ROUTE_LABELS;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];
const STATUSES: [u16; 26] = [
    101, 200, 201, 202, 204, 206, 301, 304, 308, 400, 401, 403, 404, 405, 409, 413, 415, 422, 426,
    429, 499, 500, 502, 503, 504, 0,
];
const STATUS_LABELS: [&str; 26] = [
    "101", "200", "201", "202", "204", "206", "301", "304", "308", "400", "401", "403", "404",
    "405", "409", "413", "415", "422", "426", "429", "499", "500", "502", "503", "504", "other",
];

/// Pre-resolved handles for one route class, so the hot path does no label hashing.
struct RouteStats {
    duration: Histogram,
    request_bytes: IntCounter,
    response_bytes: IntCounter,
    /// `[method][status]`, resolved on first use.
    requests: Vec<OnceLock<IntCounter>>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The edge's own metrics plus the registry everything else registers into.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    routes: std::sync::Arc<Vec<RouteStats>>,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub response_bytes: IntCounterVec,
    pub request_bytes: IntCounterVec,
    pub open_connections: IntGauge,
    pub in_flight: IntGauge,
    pub websocket_sessions: IntGaugeVec,
    pub websocket_sessions_total: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub tls_cert_reloads: IntCounterVec,
    /// ACME orders by result (`issued`, `error`).
    pub acme_orders: IntCounterVec,
    /// `notAfter` of each loaded certificate, by its first name (for expiry alerts).
    pub tls_cert_expiry: IntGaugeVec,
    /// 1 when the last store check (each minute, and every /readyz) succeeded.
    pub store_up: IntGauge,
    /// Connections refused at accept, by reason (`per_client`, `total`).
    pub connections_rejected: IntCounterVec,
    /// Request heads refused for their size (HTTP/1.1; 431).
    pub heads_rejected: prometheus::IntCounter,
    /// Listen-in and operator sockets forwarded to the appliance holding the call, by
    /// how the forwarding went.
    pub hop_forwarded: IntCounterVec,
    /// Requests the internal listener refused, by reason.
    pub hop_refused: IntCounterVec,
}

impl Metrics {
    /// The metric table: one entry per metric.
    #[allow(clippy::too_many_lines)]
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "agent5_http_requests_total",
                "HTTP requests answered by the edge",
            ),
            &["route", "method", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "agent5_http_request_duration_seconds",
                "Time from request head received to response finished",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let response_bytes = IntCounterVec::new(
            Opts::new(
                "agent5_http_response_body_bytes_total",
                "Response body bytes sent",
            ),
            &["route"],
        )?;
        let request_bytes = IntCounterVec::new(
            Opts::new(
                "agent5_http_request_body_bytes_total",
                "Request body bytes received",
            ),
            &["route"],
        )?;
        let open_connections = IntGauge::new(
            "agent5_http_open_connections",
            "Client HTTP/1.x connections open (HTTP/2 streams count as requests in flight)",
        )?;
        let in_flight = IntGauge::new(
            "agent5_http_requests_in_flight",
            "Requests being processed, WebSocket sessions included",
        )?;
        let websocket_sessions = IntGaugeVec::new(
            Opts::new(
                "agent5_websocket_sessions",
                "WebSocket sessions open, by kind",
            ),
            &["kind"],
        )?;
        let websocket_sessions_total = IntCounterVec::new(
            Opts::new(
                "agent5_websocket_sessions_total",
                "WebSocket sessions accepted, by kind",
            ),
            &["kind"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "agent5_auth_failures_total",
                "Requests refused by bearer authentication, by reason",
            ),
            &["reason"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "agent5_rate_limited_total",
                "Requests refused with 429, by budget",
            ),
            &["budget"],
        )?;
        let acme_orders = IntCounterVec::new(
            Opts::new(
                "agent5_acme_orders_total",
                "ACME certificate orders by result (issued, error)",
            ),
            &["result"],
        )?;
        let tls_cert_reloads = IntCounterVec::new(
            Opts::new(
                "agent5_tls_cert_loads_total",
                "Certificate loads by result (ok, error)",
            ),
            &["result"],
        )?;
        let tls_cert_expiry = IntGaugeVec::new(
            Opts::new(
                "agent5_tls_cert_expiry_timestamp_seconds",
                "notAfter of each loaded TLS certificate, Unix seconds",
            ),
            &["name"],
        )?;
        let store_up = IntGauge::new(
            "agent5_store_up",
            "1 if the store answered its last check (every minute and on /readyz), else 0",
        )?;
        store_up.set(1);
        let build_info = IntGaugeVec::new(
            Opts::new("agent5_build_info", "Build information; always 1"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(response_bytes.clone()))?;
        registry.register(Box::new(request_bytes.clone()))?;
        registry.register(Box::new(open_connections.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(websocket_sessions.clone()))?;
        registry.register(Box::new(websocket_sessions_total.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(tls_cert_reloads.clone()))?;
        registry.register(Box::new(acme_orders.clone()))?;
        registry.register(Box::new(tls_cert_expiry.clone()))?;
        registry.register(Box::new(store_up.clone()))?;
        registry.register(Box::new(build_info))?;
        let connections_rejected = IntCounterVec::new(
            Opts::new(
                "agent5_connections_rejected_total",
                "Connections closed at accept by the connection caps, by reason",
            ),
            &["reason"],
        )?;
        for reason in ["per_client", "total"] {
            connections_rejected.with_label_values(&[reason]);
        }
        let heads_rejected = prometheus::IntCounter::new(
            "agent5_http_heads_rejected_total",
            "HTTP/1.1 request heads refused for exceeding limits.max_head_bytes",
        )?;
        registry.register(Box::new(connections_rejected.clone()))?;
        registry.register(Box::new(heads_rejected.clone()))?;
        let hop_forwarded = IntCounterVec::new(
            Opts::new(
                "agent5_cluster_forwarded_sockets_total",
                "Listen-in and operator sockets forwarded to the appliance holding the call",
            ),
            &["result"],
        )?;
        for result in crate::edge::hop::FORWARD_RESULTS {
            hop_forwarded.with_label_values(&[result]);
        }
        let hop_refused = IntCounterVec::new(
            Opts::new(
                "agent5_cluster_hop_refused_total",
                "Requests the internal listener refused (unsigned, stale, bad signature, not a forwardable path)",
            ),
            &["reason"],
        )?;
        for reason in crate::edge::hop::REFUSALS {
            hop_refused.with_label_values(&[reason]);
        }
        registry.register(Box::new(hop_forwarded.clone()))?;
        registry.register(Box::new(hop_refused.clone()))?;

        let routes = ROUTE_LABELS
            .iter()
            .map(|route| RouteStats {
                duration: request_duration.with_label_values(&[route]),
                request_bytes: request_bytes.with_label_values(&[route]),
                response_bytes: response_bytes.with_label_values(&[route]),
                requests: (0..METHODS.len() * STATUSES.len())
                    .map(|_| OnceLock::new())
                    .collect(),
            })
            .collect();

        Ok(Self {
            registry,
            routes: std::sync::Arc::new(routes),
            requests,
            request_duration,
            response_bytes,
            request_bytes,
            open_connections,
            in_flight,
            websocket_sessions,
            websocket_sessions_total,
            auth_failures,
            rate_limited,
            tls_cert_reloads,
            acme_orders,
            tls_cert_expiry,
            store_up,
            connections_rejected,
            heads_rejected,
            hop_forwarded,
            hop_refused,
        })
    }

    /// Publishes the expiry of every certificate in `table`.
    pub fn record_certs(&self, table: &crate::tls::CertTable) {
        self.tls_cert_expiry.reset();
        for cert in table.certs() {
            let name = cert.names.first().map_or("unnamed", String::as_str);
            self.tls_cert_expiry
                .with_label_values(&[name])
                .set(cert.not_after);
        }
    }

    /// Records one answered request.
    pub fn observe(
        &self,
        route: usize,
        method: &http::Method,
        status: u16,
        elapsed: Duration,
        request_bytes: u64,
        response_bytes: u64,
    ) {
        let Some(stats) = self.routes.get(route) else {
            return;
        };
        let m = method_index(method);
        let s = STATUSES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(STATUSES.len() - 1);
        let counter = stats.requests[m * STATUSES.len() + s].get_or_init(|| {
            self.requests
                .with_label_values(&[ROUTE_LABELS[route], METHODS[m], STATUS_LABELS[s]])
        });
        counter.inc();
        stats.duration.observe(elapsed.as_secs_f64());
        if request_bytes > 0 {
            stats.request_bytes.inc_by(request_bytes);
        }
        if response_bytes > 0 {
            stats.response_bytes.inc_by(response_bytes);
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every registered metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

fn method_index(method: &http::Method) -> usize {
    match *method {
        http::Method::GET => 0,
        http::Method::POST => 1,
        http::Method::PUT => 2,
        http::Method::PATCH => 3,
        http::Method::DELETE => 4,
        http::Method::HEAD => 5,
        http::Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Bounded method label.
pub fn method_label(method: &http::Method) -> &'static str {
    METHODS[method_index(method)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::new().expect("metrics");
        m.observe(6, &http::Method::GET, 200, Duration::from_millis(3), 0, 10);
        m.observe(6, &http::Method::GET, 200, Duration::from_millis(3), 0, 10);
        m.observe(
            7,
            &http::Method::from_bytes(b"BREW").expect("m"),
            418,
            Duration::ZERO,
            1,
            0,
        );
        let text = String::from_utf8(m.render()).expect("utf8");
        for line in [
            r#"agent5_http_requests_total{method="GET",route="api",status="200"} 2"#,
            r#"agent5_http_requests_total{method="OTHER",route="static",status="other"} 1"#,
            r#"agent5_http_response_body_bytes_total{route="api"} 20"#,
            r#"agent5_http_request_duration_seconds_count{route="api"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing");
        }
        assert!(text.contains("agent5_build_info{version="));
    }
}
