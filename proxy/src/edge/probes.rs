//! `/healthz` (the process answers), `/readyz` (it can do its job, and if not, which
//! check fails), `/metrics` (Prometheus text format).

use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use super::{respond, Shared};

pub fn healthz() -> http::Response<Body> {
    respond::bytes(
        StatusCode::OK,
        "application/json; charset=utf-8",
        Bytes::from_static(br#"{"status":"ok"}"#),
    )
}

/// Bound on the store round trip of a readiness probe.
const STORE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `detailed`: the checks, integrations and warnings too (they name missing secrets);
/// otherwise only `{"status"}` and the status code.
pub async fn readyz(shared: &Shared, detailed: bool) -> http::Response<Body> {
    let store_ok = matches!(
        tokio::time::timeout(STORE_CHECK_TIMEOUT, shared.store.ping()).await,
        Ok(Ok(()))
    );
    let mut checks = Map::new();
    let mut failing = Vec::new();
    let mut check = |name: &str, ok: bool, bad: &str| {
        checks.insert(name.to_owned(), Value::from(if ok { "ok" } else { bad }));
        if !ok {
            failing.push(name.to_owned());
        }
    };
    check("config", true, "invalid");
    check("listeners", shared.lifecycle.is_listening(), "not_bound");
    check("draining", !shared.lifecycle.is_draining(), "draining");
    check("store", store_ok, "unavailable");
    shared.metrics.store_up.set(i64::from(store_ok));

    let mut integrations = Map::new();
    for (name, missing) in shared.config.integrations.status() {
        integrations.insert(
            name.to_owned(),
            json!({ "configured": missing.is_empty(), "missing": missing }),
        );
    }
    let mut warnings = Vec::new();
    if !shared.config.integrations.telnyx_verify_signatures {
        warnings.push("telnyx.verify_signatures = false: Telnyx webhooks are NOT authenticated");
    }
    let ready = failing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !detailed {
        let body = json!({ "status": if ready { "ready" } else { "not_ready" } });
        return respond::json(status, &body);
    }
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": shared.store.backend(),
        "failing": failing,
        "checks": checks,
        "integrations": integrations,
        "warnings": warnings,
    });
    respond::json(status, &body)
}

pub fn metrics(shared: &Shared) -> http::Response<Body> {
    respond::bytes(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(shared.metrics.render()),
    )
}
