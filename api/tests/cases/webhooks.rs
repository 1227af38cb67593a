//! Cases for recorded Telnyx webhook events: once only, batches, pending replay.

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::model::now_millis;
use agent5_api::store::SharedStore;

pub async fn webhook_events_are_recorded_once(store: SharedStore) {
    assert!(store
        .record_webhook_event("evt-1", "call.initiated", "{}")
        .await
        .expect("first"));
    assert!(!store
        .record_webhook_event("evt-1", "call.initiated", "{}")
        .await
        .expect("dup"));
    assert!(store
        .record_webhook_event("evt-2", "call.hangup", "{}")
        .await
        .expect("other"));
}

pub async fn webhook_dedup_under_concurrent_delivery(store: SharedStore) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_webhook_event("evt-race", "call.answered", "{}")
                    .await
                    .expect("record")
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.expect("join"));
    }
    assert_eq!(firsts, 1, "exactly one delivery is processed");
}

/// Batches record each new id once (duplicates within the batch and against earlier
/// batches are `false`); recorded events stay pending, oldest first, until processed.
pub async fn webhook_batches_and_pending_events(store: SharedStore) {
    let ev = |id: &str| agent5_api::model::NewWebhookEvent {
        event_id: id.into(),
        event_type: "call.answered".into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
    };
    assert!(store
        .record_webhook_event("a", "call.initiated", "{}")
        .await
        .expect("a"));
    let firsts = store
        .record_webhook_events(vec![ev("b"), ev("a"), ev("c"), ev("b")])
        .await
        .expect("batch");
    assert_eq!(firsts, vec![true, false, true, false]);
    let far_future = now_millis() + 60_000;
    let pending = store
        .pending_webhook_events(far_future, 10)
        .await
        .expect("pending");
    let ids: BTreeSet<String> = pending.iter().map(|p| p.event_id.clone()).collect();
    assert_eq!(
        ids,
        ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect()
    );
    let b = pending.iter().find(|p| p.event_id == "b").expect("b");
    assert_eq!(
        (b.event_type.as_str(), b.payload.as_str()),
        ("call.answered", "{\"id\":\"b\"}")
    );
    assert!(pending
        .windows(2)
        .all(|w| w[0].received_at <= w[1].received_at));
    assert!(store
        .pending_webhook_events(0, 10)
        .await
        .expect("none that old")
        .is_empty());
    store
        .mark_webhook_events_processed(vec!["a".into(), "c".into(), "unknown".into()])
        .await
        .expect("mark");
    let left: Vec<String> = store
        .pending_webhook_events(far_future, 10)
        .await
        .expect("pending")
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    assert_eq!(left, vec!["b".to_owned()]);
    assert_eq!(
        store
            .pending_webhook_events(far_future, 0)
            .await
            .expect("limit 0")
            .len(),
        0
    );
}
