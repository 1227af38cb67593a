//! The cluster's nodes: lives registered with a heartbeat the database's clock judges,
//! declared lost once, removed when they stop cleanly.

use agent5_api::model::{NodeRecord, NodeStatus};
use agent5_api::store::SharedStore;

fn node(id: &str, epoch: &str, started_at: i64) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        epoch: epoch.into(),
        public_url: format!("https://{id}.example.test"),
        internal_addr: format!("unix:/run/agent5/{id}.sock"),
        version: "test".into(),
        started_at,
    }
}

fn lives(nodes: &[NodeStatus]) -> Vec<(String, String, bool)> {
    nodes
        .iter()
        .map(|n| (n.node.id.clone(), n.node.epoch.clone(), n.alive))
        .collect()
}

const MINUTE: i64 = 60_000;

pub async fn nodes_register_beat_and_leave(store: SharedStore) {
    // Two lives of node "b" (an upgrade: the old process drains beside the new one).
    store
        .register_node(node("b", "b2", 20), MINUTE)
        .await
        .expect("register");
    store
        .register_node(node("a", "a1", 30), MINUTE)
        .await
        .expect("register");
    store
        .register_node(node("b", "b1", 10), MINUTE)
        .await
        .expect("register");
    let listed = store.list_nodes().await.expect("list");
    assert_eq!(
        lives(&listed),
        [
            ("a".into(), "a1".into(), true),
            ("b".into(), "b1".into(), true),
            ("b".into(), "b2".into(), true),
        ],
        "by id, then start"
    );
    let a = &listed[0];
    assert_eq!(a.node, node("a", "a1", 30), "what the node said of itself");
    assert!(
        (0..MINUTE).contains(&a.silent_ms),
        "just registered: {}",
        a.silent_ms
    );
    assert_eq!((a.ttl_ms, a.lost_at), (MINUTE, None));

    assert_eq!(store.heartbeat_node("b", "b1", MINUTE).await, Ok(true));
    store
        .register_node(node("b", "b1", 10), MINUTE)
        .await
        .expect("the same life again: a heartbeat");
    assert_eq!(store.list_nodes().await.expect("list").len(), 3);
    assert_eq!(
        store.heartbeat_node("b", "b9", MINUTE).await,
        Ok(false),
        "an epoch that never registered"
    );
    store.remove_node("b", "b1").await.expect("remove");
    assert_eq!(
        store.heartbeat_node("b", "b1", MINUTE).await,
        Ok(false),
        "a removed life is over"
    );
    assert_eq!(
        lives(&store.list_nodes().await.expect("list")),
        [
            ("a".into(), "a1".into(), true),
            ("b".into(), "b2".into(), true),
        ]
    );
    assert_eq!(
        store.claim_lost_node("a", "a1", 99).await,
        Ok(false),
        "a node within its ttl is not lost"
    );
}

pub async fn a_silent_node_is_declared_lost_once(store: SharedStore) {
    // A ttl of zero: silent at once by the database's clock (no waiting in the test).
    store
        .register_node(node("c", "c1", 10), 0)
        .await
        .expect("register");
    store
        .register_node(node("d", "d1", 10), MINUTE)
        .await
        .expect("register");
    let listed = store.list_nodes().await.expect("list");
    assert_eq!(
        lives(&listed),
        [
            ("c".into(), "c1".into(), false),
            ("d".into(), "d1".into(), true)
        ]
    );
    let claims =
        futures_util::future::join_all((0..4).map(|_| store.claim_lost_node("c", "c1", 1234)))
            .await;
    assert_eq!(
        claims.iter().filter(|c| **c == Ok(true)).count(),
        1,
        "exactly one claimant: {claims:?}"
    );
    assert_eq!(
        store.heartbeat_node("c", "c1", MINUTE).await,
        Ok(false),
        "a lost life never beats again"
    );
    store
        .register_node(node("c", "c1", 10), MINUTE)
        .await
        .expect("registering a lost life again is no error");
    assert_eq!(
        store.heartbeat_node("c", "c1", MINUTE).await,
        Ok(false),
        "and does not revive it"
    );
    let c = store
        .list_nodes()
        .await
        .expect("list")
        .into_iter()
        .find(|n| n.node.id == "c")
        .expect("kept after it was lost");
    assert_eq!((c.alive, c.lost_at), (false, Some(1234)));
    // The same node back with a new epoch is a new life, alive.
    store
        .register_node(node("c", "c2", 20), MINUTE)
        .await
        .expect("register");
    assert_eq!(store.heartbeat_node("c", "c2", MINUTE).await, Ok(true));
    assert_eq!(store.claim_lost_node("c", "c2", 5).await, Ok(false));
}

/// Recordings copied into the store: parts in offset order from any point, the same
/// part twice stored once, where the copy ends, calls kept apart.
pub async fn recording_parts_read_back_in_order_from_any_offset(store: SharedStore) {
    use agent5_api::model::RecordingPart;
    let part = |call: &str, offset: u64, fill: u8, len: usize| RecordingPart {
        call_id: call.into(),
        offset,
        data: vec![fill; len],
    };
    assert_eq!(store.recording_stored_end("c1").await.expect("end"), None);
    assert!(store
        .recording_parts("c1", 0, 10)
        .await
        .expect("parts")
        .is_empty());
    // Written out of order (a retry after a failed write), one repeated.
    for p in [
        part("c1", 100, 2, 50),
        part("c1", 0, 1, 100),
        part("c1", 150, 3, 10),
        part("c1", 100, 2, 50),
        part("c2", 0, 9, 7),
    ] {
        store.put_recording_part(p).await.expect("put");
    }
    let all = store.recording_parts("c1", 0, 10).await.expect("parts");
    assert_eq!(
        all.iter()
            .map(|p| (p.offset, p.data.len(), p.data[0]))
            .collect::<Vec<_>>(),
        vec![(0, 100, 1), (100, 50, 2), (150, 10, 3)]
    );
    assert_eq!(all[1].end(), 150);
    let rest = store.recording_parts("c1", 100, 1).await.expect("parts");
    assert_eq!(
        rest,
        vec![part("c1", 100, 2, 50)],
        "from an offset, limited"
    );
    let later = store.recording_parts("c1", 101, 10).await.expect("parts");
    assert_eq!(later.len(), 1, "a part is returned whole or not at all");
    assert_eq!(
        store.recording_stored_end("c1").await.expect("end"),
        Some(160)
    );
    assert_eq!(
        store.recording_stored_end("c2").await.expect("end"),
        Some(7)
    );
    let binary: Vec<u8> = (0..=255).collect();
    store
        .put_recording_part(RecordingPart {
            call_id: "c3".into(),
            offset: 0,
            data: binary.clone(),
        })
        .await
        .expect("put");
    assert_eq!(
        store.recording_parts("c3", 0, 1).await.expect("parts")[0].data,
        binary,
        "every byte value survives"
    );
    // Retention: nothing is older than a minute ago; everything is older than later.
    let now = agent5_api::model::now_millis();
    assert_eq!(
        store
            .delete_recording_parts_before(now - MINUTE)
            .await
            .expect("delete"),
        0
    );
    assert_eq!(
        store
            .delete_recording_parts_before(now + MINUTE)
            .await
            .expect("delete"),
        5
    );
    assert_eq!(store.recording_stored_end("c1").await.expect("end"), None);
}
