//! The Monitor of one appliance lists and follows the live calls the other appliances
//! hold (read from the store by the cluster's directory), on both stores.
#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use std::sync::Arc;
use std::time::Duration;

use agent5_api::cluster::{Directory, Identity};
use agent5_api::model::{now_millis, Call, CallOwner, CallStatus, Direction, NodeRecord};
use agent5_api::store::SharedStore;
use agent5_api::{router, AppState};
use agent5_bridge::live::LiveEvent;
use common::router::call;

/// A call held by `owner`; its media stream open when `media`.
async fn held(store: &SharedStore, id: &str, owner: CallOwner, media: bool) -> Call {
    let mut c = Call::new(id, Direction::Outbound, "+32475123456".into(), now_millis());
    c.status = CallStatus::Ringing;
    c.owner = Some(owner);
    c.facts.media_connected_at = media.then(now_millis);
    store.create_call(c).await.expect("call")
}

async fn change(store: &SharedStore, id: &str, f: impl FnOnce(&mut Call)) {
    let mut c = store.get_call(id).await.expect("call");
    f(&mut c);
    store.update_call(c).await.expect("update");
}

async fn next(rx: &mut tokio::sync::broadcast::Receiver<LiveEvent>) -> (String, String) {
    let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event in time")
        .expect("event");
    (ev.kind.to_owned(), ev.call.call_id)
}

async fn other_appliances_live_calls_are_listed_and_followed(store: SharedStore) {
    let me = Arc::new(Identity::new("node-a", ""));
    let b = CallOwner {
        node: "node-b".into(),
        epoch: "b-life-1".into(),
    };
    let dir = Arc::new(Directory::new(
        Arc::clone(&store),
        Arc::clone(&me),
        Duration::from_millis(50),
    ));
    let mut events = dir.subscribe();
    // Alone on the store, a pass reads nothing but the node records.
    held(&store, "b-call", b.clone(), true).await;
    dir.refresh().await.expect("refresh");
    assert!(dir.list().is_empty(), "node-b has not joined yet");
    store
        .register_node(
            NodeRecord {
                id: "node-b".into(),
                epoch: "b-life-1".into(),
                public_url: String::new(),
                internal_addr: String::new(),
                version: "test".into(),
                started_at: now_millis(),
            },
            60_000,
        )
        .await
        .expect("node-b joins");
    held(&store, "b-dialing", b.clone(), false).await;
    held(&store, "a-call", me.owner(), true).await;
    dir.refresh().await.expect("refresh");
    assert_eq!(
        next(&mut events).await,
        ("call.started".into(), "b-call".into()),
        "another appliance's call with its media open; not one still dialling, not its own"
    );
    assert_eq!(dir.node_of("b-call").as_deref(), Some("node-b"));
    assert_eq!(dir.node_of("a-call"), None);

    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
    let app = router(AppState::new(bridge, Arc::clone(&store)).with_directory(Arc::clone(&dir)));
    let (status, live) = call(&app, "GET", "/api/calls/live", None).await;
    assert_eq!(status, 200);
    let items = live["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{live}");
    assert_eq!(items[0]["call_id"], "b-call");
    assert_eq!(items[0]["node"], "node-b");
    assert_eq!(items[0]["local"], false);
    assert_eq!(items[0]["state"], "ringing");
    assert_eq!(items[0]["phone"], "+32475123456");

    followed_by_its_loop(&store, &dir, &mut events, &b).await;
}

/// The directory's own loop: the call answered and taken over, another one started,
/// the first ended.
async fn followed_by_its_loop(
    store: &SharedStore,
    dir: &Arc<Directory>,
    events: &mut tokio::sync::broadcast::Receiver<LiveEvent>,
    b: &CallOwner,
) {
    tokio::spawn(Arc::clone(dir).run());
    change(store, "b-call", |c| {
        c.answered_at = Some(now_millis());
        c.status = CallStatus::Streaming;
        c.facts.taken_over = true;
    })
    .await;
    assert_eq!(next(events).await, ("call.updated".into(), "b-call".into()));
    let shown = dir.list();
    assert_eq!(
        (shown[0].live.state, shown[0].live.controller.as_str()),
        ("streaming", "operator")
    );
    assert_eq!(
        dir.watching(),
        store.backend() == "mongo",
        "a change stream on MongoDB (SecantusDB is a replica set), polling on SQLite"
    );
    // A call another appliance starts now arrives through the stream (or the poll).
    held(store, "b-second", b.clone(), true).await;
    assert_eq!(
        next(events).await,
        ("call.started".into(), "b-second".into())
    );
    change(store, "b-call", |c| {
        c.ended_at = Some(now_millis());
        c.status = CallStatus::Ended;
    })
    .await;
    assert_eq!(next(events).await, ("call.ended".into(), "b-call".into()));
    assert_eq!(dir.list().len(), 1, "b-second goes on");
}

common::on_both_stores!(other_appliances_live_calls_are_listed_and_followed);
