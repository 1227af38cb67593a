//! `GET /api/calls/{id}?after=<revision>`: the long poll a client (the console, the
//! test rigs) waits on instead of polling, on both stores.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use std::sync::Arc;

use agent5_api::calls::Telephony;
use agent5_api::model::{now_millis, Call, Direction};
use agent5_api::store::SharedStore;
use agent5_api::{router, AppState};
use common::router::call;

/// The API over `store` with one call in it: the router, telephony, the call's id.
async fn one_call(store: SharedStore) -> (axum::Router, Arc<Telephony>, String) {
    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
    let state = AppState::new(bridge, Arc::clone(&store));
    let telephony = Arc::clone(state.telephony());
    let id = store
        .create_call(Call::new(
            "call-1",
            Direction::Outbound,
            "+32475123456".into(),
            now_millis(),
        ))
        .await
        .expect("create")
        .id;
    (router(state), telephony, id.into())
}

async fn a_long_poll_answers_when_the_call_changes(store: SharedStore) {
    let (app, telephony, id) = one_call(store).await;
    let (status, before) = call(&app, "GET", &format!("/api/calls/{id}"), None).await;
    assert_eq!(status, 200);
    let revision = before["revision"].as_str().expect("revision").to_owned();
    let poll = tokio::spawn({
        let app = app.clone();
        let uri = format!("/api/calls/{id}?after={revision}&wait=30");
        async move { call(&app, "GET", &uri, None).await }
    });
    telephony
        .update(&id, |c| c.hangup_cause = Some("normal_clearing".into()))
        .await
        .expect("update");
    let (status, after) = poll.await.expect("poll");
    assert_eq!(status, 200);
    assert_ne!(after["revision"], before["revision"]);
    assert_eq!(after["hangup_cause"], "normal_clearing");
}

async fn a_long_poll_without_a_change_answers_after_its_wait(store: SharedStore) {
    let (app, _, id) = one_call(store).await;
    let (_, before) = call(&app, "GET", &format!("/api/calls/{id}"), None).await;
    let revision = before["revision"].as_str().expect("revision");
    let (status, after) = call(
        &app,
        "GET",
        &format!("/api/calls/{id}?after={revision}&wait=1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(after["revision"], before["revision"]);
}

async fn a_wait_out_of_range_is_refused_naming_it(store: SharedStore) {
    let (app, _, id) = one_call(store).await;
    for wait in ["0", "31", "soon"] {
        let (status, v) = call(
            &app,
            "GET",
            &format!("/api/calls/{id}?after=0.0&wait={wait}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{wait}");
        assert_eq!(v["error"]["field"], "wait", "{wait}");
    }
}

common::on_both_stores!(
    a_long_poll_answers_when_the_call_changes,
    a_long_poll_without_a_change_answers_after_its_wait,
    a_wait_out_of_range_is_refused_naming_it,
);
