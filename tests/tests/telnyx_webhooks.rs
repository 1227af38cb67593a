//! Signed Telnyx webhooks end to end through the edge: every negative case of the
//! signature check, duplicates, and concurrent duplicate deliveries.

mod telnyx_rig;

use agent5_e2e::fake_telnyx::{carrier_time, now_millis, now_unix, WebhookSigner};
use serde_json::json;

use telnyx_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, clippy::cognitive_complexity)] // to split: one behaviour per test (issue 14)
async fn webhook_signatures_are_checked_at_the_edge() {
    let rig = rig("[limits]\nwebhook_body_bytes = 4096\n").await;
    let good = event(
        "ev-1",
        "call.conversation.ended",
        &carrier_time(now_millis()),
        json!({}),
    );
    let ts = now_unix();
    let sig = rig.signer.sign(ts, &good);

    let r = rig.event(&good).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].as_str()),
        (200, Some("accepted")),
        "{:?}",
        r.body
    );
    let r = rig.event(&good).await;
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

    // 30 s beyond the 300 s tolerance either way, however long the steps above took.
    let stale = now_unix() - 330;
    let future = now_unix() + 330;
    // Over the route's limit (4 KiB here, 256 KiB by default): refused before it is read.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(8 * 1024));
    let cases: Vec<Case<'_>> = vec![
        (
            "another key",
            good.clone(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                (
                    "telnyx-signature-ed25519",
                    WebhookSigner::other_key().sign(ts, &good),
                ),
            ],
            401,
            "bad_signature",
        ),
        (
            "stale",
            good.clone(),
            vec![
                ("telnyx-timestamp", stale.to_string()),
                ("telnyx-signature-ed25519", rig.signer.sign(stale, &good)),
            ],
            401,
            "stale_timestamp",
        ),
        (
            "future",
            good.clone(),
            vec![
                ("telnyx-timestamp", future.to_string()),
                ("telnyx-signature-ed25519", rig.signer.sign(future, &good)),
            ],
            401,
            "stale_timestamp",
        ),
        (
            "mutated body",
            good.replace("ev-1", "ev-9"),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", sig.clone()),
            ],
            401,
            "bad_signature",
        ),
        (
            "other timestamp",
            good.clone(),
            vec![
                ("telnyx-timestamp", (ts + 1).to_string()),
                ("telnyx-signature-ed25519", sig.clone()),
            ],
            401,
            "bad_signature",
        ),
        (
            "no signature",
            good.clone(),
            vec![("telnyx-timestamp", ts.to_string())],
            400,
            "missing_signature",
        ),
        (
            "no timestamp",
            good.clone(),
            vec![("telnyx-signature-ed25519", sig.clone())],
            400,
            "missing_timestamp",
        ),
        (
            "two signatures",
            good.clone(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", sig.clone()),
                ("telnyx-signature-ed25519", sig.clone()),
            ],
            400,
            "duplicate_header",
        ),
        (
            "text timestamp",
            good.clone(),
            vec![
                ("telnyx-timestamp", "soon".into()),
                ("telnyx-signature-ed25519", sig.clone()),
            ],
            400,
            "bad_timestamp",
        ),
        (
            "bad base64",
            good.clone(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", "!!!".into()),
            ],
            400,
            "bad_base64",
        ),
        (
            "short signature",
            good.clone(),
            vec![
                ("telnyx-timestamp", ts.to_string()),
                ("telnyx-signature-ed25519", "AAAA".into()),
            ],
            400,
            "bad_signature_length",
        ),
    ];
    for (name, payload, headers, status, code) in &cases {
        let r = rig.deliver("/api/telnyx/events", payload, headers).await;
        assert_eq!(r.status.as_u16(), *status, "{name}: {:?}", r.body);
        assert_eq!(r.json()["error"]["code"], *code, "{name}");
    }
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
    let log = rig.app.log_text();
    assert!(
        log.contains("telnyx webhook refused"),
        "rejections are logged"
    );
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
