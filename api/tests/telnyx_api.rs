//! The Telnyx pieces inside the API crate: the published signature vectors with an
//! injected clock (and refused by the real one), the webhook pipeline replaying events
//! left pending by a crash, and the agent profiles API, on both backends.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::{mongo, sqlite};

use std::sync::Arc;

use agent5_api::calls::TelnyxSettings;
use agent5_api::integrations::telnyx::signature::{
    Clock, FixedClock, PublicKey, Rejection, SystemClock, Verifier, DEFAULT_TOLERANCE_SECS,
};
use agent5_api::metrics::ApiMetrics;
use agent5_api::model::{now_millis, Call};
use agent5_api::store::SharedStore;
use agent5_api::{router, AppState};
use serde_json::{json, Value};

fn vectors() -> Value {
    let path = format!(
        "{}/tests/fixtures/telnyx_webhook_vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("vectors")).expect("json")
}

fn headers(v: &Value) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for name in ["telnyx-timestamp", "telnyx-signature-ed25519"] {
        h.insert(
            name,
            v[name].as_str().expect("header").parse().expect("value"),
        );
    }
    h
}

#[test]
fn every_vector_verifies_as_published_with_both_key_forms() {
    let all = vectors();
    let keys = [
        all["key"]["public_key_b64_raw32"].as_str().expect("raw"),
        all["key"]["public_key_pem_spki"].as_str().expect("pem"),
    ];
    let vectors = all["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 4);
    for key in keys {
        let key = PublicKey::parse(key).expect("key");
        let fixed: Arc<dyn Clock> = Arc::new(FixedClock(1_700_000_000));
        let at_signing = Verifier::new(Some(key.clone()), DEFAULT_TOLERANCE_SECS, fixed);
        let now = Verifier::new(Some(key), DEFAULT_TOLERANCE_SECS, Arc::new(SystemClock));
        for v in vectors {
            let name = v["name"].as_str().unwrap_or("?");
            let body = v["body"].as_str().expect("body").as_bytes();
            let valid = v["valid"].as_bool().expect("valid");
            let result = at_signing.verify(&headers(v), body);
            assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
            if !valid {
                assert_eq!(result, Err(Rejection::BadSignature), "{name}");
            }
            // The vectors are from 2023: the real clock refuses every one of them.
            assert!(
                now.verify(&headers(v), body).is_err(),
                "{name} with the real clock"
            );
        }
    }
}

fn call(id: &str, ccid: &str) -> Call {
    Call {
        call_control_id: Some(ccid.into()),
        ..Call::new(
            id,
            agent5_api::model::Direction::Outbound,
            "+32475123456".into(),
            now_millis(),
        )
    }
}

/// An event recorded before a crash, never processed, is processed when the pipeline
/// starts again.
async fn pending_events_are_replayed(store: SharedStore) {
    store
        .create_call(call("c-crash", "v2:crash"))
        .await
        .expect("call");
    let occurred_at = agent5_api::time::rfc3339_millis(now_millis() + 5000);
    let body = json!({"data": {"id": "ev-crash", "event_type": "call.answered",
        "occurred_at": occurred_at, "payload": {"call_control_id": "v2:crash"}}})
    .to_string();
    assert!(store
        .record_webhook_event("ev-crash", "call.answered", &body)
        .await
        .expect("record"));
    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
    let _state = AppState::new(bridge, Arc::clone(&store))
        .with_telephony(
            TelnyxSettings::default(),
            ApiMetrics::new(),
            &tokio::runtime::Handle::current(),
        )
        .expect("telephony");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let c = store.get_call("c-crash").await.expect("get");
        if c.status == agent5_api::model::CallStatus::Answered {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never replayed: {c:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !store
        .pending_webhook_events(now_millis() + 1000, 10)
        .await
        .expect("pending")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked processed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_events_are_replayed_on_sqlite() {
    let (store, _dir) = sqlite().await;
    pending_events_are_replayed(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_events_are_replayed_on_mongo() {
    if let Some(store) = mongo("pending_replay").await {
        pending_events_are_replayed(store).await;
    }
}

async fn call_api(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    common::router::call(app, method, uri, body.as_deref()).await
}

async fn agents_routes(store: SharedStore) {
    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
    let app = router(AppState::new(bridge, store));
    let good = json!({"name": "Invoices NL", "instructions": "Je belt over een openstaande factuur.",
        "voice": "marin", "language": "nl", "tools": ["opt_out", "end_call", "opt_out"]});
    let (status, created) = call_api(&app, "POST", "/api/agents", Some(good.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["tools"], json!(["end_call", "opt_out"]));
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, dup) = call_api(&app, "POST", "/api/agents", Some(good.clone())).await;
    assert_eq!(
        (status, dup["error"]["code"].as_str()),
        (409, Some("duplicate_name"))
    );
    for (patch, field) in [
        (json!({"voice": "robot"}), "voice"),
        (json!({"language": "es"}), "language"),
        (json!({"tools": ["launch_missiles"]}), "tools"),
        (json!({"name": " "}), "name"),
        (json!({"instructions": ""}), "instructions"),
    ] {
        let (status, e) = call_api(&app, "PATCH", &format!("/api/agents/{id}"), Some(patch)).await;
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
    let (status, e) = call_api(&app, "POST", "/api/agents", Some(json!({"name": "x"}))).await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("instructions"))
    );
    let (status, e) = call_api(
        &app,
        "POST",
        "/api/agents",
        Some(json!({"name": "x", "colour": "red"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let mut other = good.clone();
    other["name"] = json!("Deliveries FR");
    other["language"] = json!("fr");
    let (status, second) = call_api(&app, "POST", "/api/agents", Some(other)).await;
    assert_eq!(status, 201);
    let (status, renamed) = call_api(
        &app,
        "PATCH",
        &format!("/api/agents/{}", second["id"].as_str().expect("id")),
        Some(json!({"name": "Invoices NL"})),
    )
    .await;
    assert_eq!(
        (status, renamed["error"]["code"].as_str()),
        (409, Some("duplicate_name"))
    );
    let (status, updated) = call_api(
        &app,
        "PATCH",
        &format!("/api/agents/{id}"),
        Some(json!({"voice": "cedar"})),
    )
    .await;
    assert_eq!((status, updated["voice"].as_str()), (200, Some("cedar")));
    let (_, list) = call_api(&app, "GET", "/api/agents", None).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Deliveries FR", "Invoices NL"]);
    let (status, _) = call_api(&app, "DELETE", &format!("/api/agents/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = call_api(&app, "GET", &format!("/api/agents/{id}"), None).await;
    assert_eq!(status, 404);
    // Unconfigured Telnyx: dialling says so, webhooks are refused without a key.
    let (status, e) = call_api(
        &app,
        "POST",
        "/api/calls",
        Some(json!({"to": "+32475123456"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (503, Some("telnyx_not_configured"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("TELNYX_API_KEY")));
}

#[tokio::test]
async fn agents_on_sqlite() {
    let (store, _dir) = sqlite().await;
    agents_routes(store).await;
}

#[tokio::test]
async fn agents_on_mongo() {
    if let Some(store) = mongo("agents_routes").await {
        agents_routes(store).await;
    }
}
