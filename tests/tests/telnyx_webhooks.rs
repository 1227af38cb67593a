//! Signed Telnyx webhooks end to end through the edge: every negative case of the
//! signature check, duplicates, and concurrent duplicate deliveries.

mod telnyx_rig;

use agent5_e2e::fake_telnyx::{carrier_time, now_millis, now_unix, WebhookSigner};
use serde_json::json;

use telnyx_rig::*;

/// The webhook rig with a 4 KiB body limit, a signed event and its signature.
async fn signed_event() -> (Rig, String, i64, String) {
    let rig = rig("[limits]\nwebhook_body_bytes = 4096\n").await;
    let good = event(
        "ev-1",
        "call.conversation.ended",
        &carrier_time(now_millis()),
        json!({}),
    );
    let ts = now_unix();
    let sig = rig.signer.sign(ts, &good);

    (rig, good, ts, sig)
}

/// A signed event is accepted, then is a duplicate; the alias path takes one too.
async fn accept_twice_and_on_the_alias(rig: &Rig, good: &str) {
    let r = rig.event(good).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].as_str()),
        (200, Some("accepted")),
        "{:?}",
        r.body
    );
    let r = rig.event(good).await;
    assert_eq!(r.json()["status"], "duplicate");
    // The alias path, no bearer token either.
    let other = event(
        "ev-2",
        "call.conversation.ended",
        &carrier_time(now_millis()),
        json!({}),
    );
    let headers = rig.signed(&other);
    assert_eq!(
        rig.deliver("/webhooks/telnyx", &other, &headers)
            .await
            .status,
        200
    );
}

/// Every malformed delivery is refused with its status and code.
async fn refuse_every_bad_delivery(rig: &Rig, good: &str, ts: i64, sig: &str) {
    let cases = refusal_cases(rig, good, ts, sig);
    for (name, payload, headers, status, code) in &cases {
        let r = rig.deliver("/api/telnyx/events", payload, headers).await;
        assert_eq!(r.status.as_u16(), *status, "{name}: {:?}", r.body);
        assert_eq!(r.json()["error"]["code"], *code, "{name}");
    }
    // Over the route's limit (4 KiB here, 256 KiB by default): refused before it is read.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(8 * 1024));
    let headers = rig.signed(&big);
    let r = rig.deliver("/api/telnyx/events", &big, &headers).await;
    assert_eq!(r.status.as_u16(), 413, "over 256 KiB");
    // Signed but not an envelope.
    let junk = "{\"data\":{}}";
    let headers = rig.signed(junk);
    let r = rig.deliver("/api/telnyx/events", junk, &headers).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (400, Some("invalid_event"))
    );
}

/// Every way a delivery's signature headers can be wrong, with the status and code
/// it is refused with (`good` is signed at `ts` with `sig`).
#[allow(clippy::too_many_lines)] // a table: one refusal per entry
fn refusal_cases<'a>(rig: &Rig, good: &str, ts: i64, sig: &str) -> Vec<Case<'a>> {
    // 30 s beyond the 300 s tolerance either way, however long the steps above took.
    let stale = now_unix() - 330;
    let future = now_unix() + 330;
    vec![
        (
            "another key",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                (
                    "telnyx-signature-ed25519",
                    WebhookSigner::other_key().sign(ts, good),
                ),
            ],
            401,
            "bad_signature",
        ),
        (
            "stale",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", stale.to_string()),
                ("telnyx-signature-ed25519", rig.signer.sign(stale, good)),
            ],
            401,
            "stale_timestamp",
        ),
        (
            "future",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", future.to_string()),
                ("telnyx-signature-ed25519", rig.signer.sign(future, good)),
            ],
            401,
            "stale_timestamp",
        ),
        (
            "mutated body",
            good.replace("ev-1", "ev-9"),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", sig.to_owned()),
            ],
            401,
            "bad_signature",
        ),
        (
            "other timestamp",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", (ts + 1).to_string()),
                ("telnyx-signature-ed25519", sig.to_owned()),
            ],
            401,
            "bad_signature",
        ),
        (
            "no signature",
            good.to_owned(),
            vec![("telnyx-timestamp", ts.to_string())],
            400,
            "missing_signature",
        ),
        (
            "no timestamp",
            good.to_owned(),
            vec![("telnyx-signature-ed25519", sig.to_owned())],
            400,
            "missing_timestamp",
        ),
        (
            "two signatures",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", sig.to_owned()),
                ("telnyx-signature-ed25519", sig.to_owned()),
            ],
            400,
            "duplicate_header",
        ),
        (
            "text timestamp",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", "soon".into()),
                ("telnyx-signature-ed25519", sig.to_owned()),
            ],
            400,
            "bad_timestamp",
        ),
        (
            "bad base64",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", "!!!".into()),
            ],
            400,
            "bad_base64",
        ),
        (
            "short signature",
            good.to_owned(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", "AAAA".into()),
            ],
            400,
            "bad_signature_length",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_event_is_accepted_once_on_either_path() {
    let (rig, good, _, _) = signed_event().await;
    accept_twice_and_on_the_alias(&rig, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_signature_header_or_body_is_refused_with_its_code() {
    let (rig, good, ts, sig) = signed_event().await;
    refuse_every_bad_delivery(&rig, &good, ts, &sig).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_and_logged_without_secrets() {
    let (rig, good, ts, sig) = signed_event().await;
    accept_twice_and_on_the_alias(&rig, &good).await;
    refuse_every_bad_delivery(&rig, &good, ts, &sig).await;
    let m = rig.metrics().await;
    assert_eq!(
        metric(
            &m,
            "agent5_telnyx_webhook_rejections_total{reason=\"bad_signature\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "agent5_telnyx_webhook_rejections_total{reason=\"stale_timestamp\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            "agent5_telnyx_webhook_rejections_total{reason=\"duplicate_header\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(&m, "agent5_telnyx_webhooks_total{outcome=\"accepted\"}"),
        2.0
    );
    assert_eq!(
        metric(&m, "agent5_telnyx_webhooks_total{outcome=\"duplicate\"}"),
        1.0
    );
    // The unknown event type was stored and counted.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(
        &rig.metrics().await,
        "agent5_telnyx_webhook_events_total{type=\"other\"}",
    ) < 2.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "unknown events never processed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Rejections are logged (lines reach the log in batches: wait for it).
    rig.app
        .wait_log(|v| v["message"] == "telnyx webhook refused");
    let log = rig.app.log_text();
    assert!(!log.contains(&sig), "no signature in the log");
    assert!(!log.contains("ev-9"), "no body in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_deliveries_are_accepted_once() {
    let rig = rig("").await;
    let sock = rig.app.unix_socket("http");
    let payload = event(
        "ev-dup",
        "call.bridged",
        &carrier_time(now_millis()),
        json!({}),
    );
    let headers = rig.signed(&payload);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (sock, payload, headers) = (sock.clone(), payload.clone(), headers.clone());
            tokio::spawn(async move {
                deliver_at(&sock, "/api/telnyx/events", &payload, &headers)
                    .await
                    .json()["status"]
                    .as_str()
                    .map(str::to_owned)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").unwrap_or_default());
    }
    assert_eq!(
        outcomes.iter().filter(|o| *o == "accepted").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 15);
}
