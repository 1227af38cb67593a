//! Prometheus metrics of the edge, in one registry that the api and bridge crates
//! register into as well, rendered by `/metrics` in the text exposition format.
//!
//! Names follow Prometheus conventions (`agent5_*_total`, `_seconds`, `_bytes`) and label
//! values are bounded (route classes, a fixed method set, status codes) so cardinality
//! cannot grow with traffic.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The edge's own metrics plus the registry everything else registers into.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
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
}

impl Metrics {
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
        let tls_cert_reloads = IntCounterVec::new(
            Opts::new(
                "agent5_tls_cert_loads_total",
                "Certificate loads by result (ok, error)",
            ),
            &["result"],
        )?;
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
        registry.register(Box::new(build_info))?;

        Ok(Self {
            registry,
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
        })
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

/// Bounded method label.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::new().expect("metrics");
        m.requests.with_label_values(&["api", "GET", "200"]).inc();
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains(r#"agent5_http_requests_total{method="GET",route="api",status="200"} 1"#)
        );
        assert!(text.contains("agent5_build_info{version="));
    }
}
