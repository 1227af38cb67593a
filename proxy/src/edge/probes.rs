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
        "node": { "id": shared.identity.node(), "epoch": shared.identity.epoch() },
        "cluster": cluster(shared).await,
        "voice_to_voice_ms": voice_to_voice(shared),
        "certificates": certificates(shared),
        "failing": failing,
        "checks": checks,
        "integrations": integrations,
        "warnings": warnings,
    });
    respond::json(status, &body)
}

/// Every appliance life registered in the store (this one included): alive, silent
/// (its calls are ended once a surviving node declares it lost) or lost; `null` when
/// the store did not answer.
async fn cluster(shared: &Shared) -> Value {
    match tokio::time::timeout(STORE_CHECK_TIMEOUT, shared.store.list_nodes()).await {
        Ok(Ok(nodes)) => Value::Array(
            nodes
                .iter()
                .map(|n| {
                    json!({
                        "id": n.node.id,
                        "epoch": n.node.epoch,
                        "public_url": n.node.public_url,
                        "internal_addr": n.node.internal_addr,
                        "version": n.node.version,
                        "started_at": n.node.started_at,
                        "state": node_state(n),
                        "silent_ms": n.silent_ms,
                        "lost_at": n.lost_at,
                    })
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// `alive`, `silent` (heartbeat expired, not yet declared lost) or `lost`.
pub fn node_state(n: &agent5_api::model::NodeStatus) -> &'static str {
    match (n.alive, n.lost_at) {
        (true, _) => "alive",
        (false, None) => "silent",
        (false, Some(_)) => "lost",
    }
}

/// The appliance's own voice-to-voice measurements since it started (the
/// `agent5_voice_to_voice_seconds` histogram): count, and p50/p95 in milliseconds
/// estimated within its buckets as Prometheus does; `null` figures before any turn.
fn voice_to_voice(shared: &Shared) -> Value {
    let h = &shared.bridge.metrics().voice_to_voice;
    let ms = |q| agent5_bridge::metrics::quantile(h, q).map(|s| (s * 1000.0).round());
    json!({ "count": h.get_sample_count(), "p50": ms(0.5), "p95": ms(0.95) })
}

/// Each certificate served: its first name, expiry (Unix seconds) and whole days left.
fn certificates(shared: &Shared) -> Value {
    let Some(store) = shared.certs.as_ref() else {
        return json!([]);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let table = store.current();
    Value::Array(
        table
            .certs()
            .iter()
            .map(|c| {
                json!({
                    "name": c.names.first().map_or("unnamed", String::as_str),
                    "not_after": c.not_after,
                    "days_left": (c.not_after - now).div_euclid(86_400),
                })
            })
            .collect(),
    )
}

pub fn metrics(shared: &Shared) -> http::Response<Body> {
    respond::bytes(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(shared.metrics.render()),
    )
}
