//! Several appliances on one store: lives registered with heartbeats the database's
//! clock judges; a silent life declared lost once, its live calls ended `node_lost`
//! and hung up at the carrier exactly once; a life that comes back starts a new epoch
//! and revives nothing. On SQLite (one box restarting) and on SecantusDB (several
//! boxes) when `AGENT5_TEST_MONGO_URI` is set.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

use std::sync::Arc;
use std::time::Duration;

use agent5_api::calls::{DialRequest, Telephony, TelnyxSettings};
use agent5_api::cluster::{ClusterMetrics, ClusterSettings, Identity, Membership};
use agent5_api::integrations::telnyx::events::Event;
use agent5_api::metrics::ApiMetrics;
use agent5_api::model::{new_id, now_millis, Call, CallOwner, CallStatus, Direction};
use agent5_api::store::{SharedStore, StoreConfig};
use agent5_e2e::fake_telnyx::{carrier_time, client_state, envelope, FakeTelnyx};
use serde_json::json;

const KEY: &str = "KEYcluster";

/// The stores to run on: SQLite always, SecantusDB when configured.
async fn stores(test: &str) -> Vec<(tempfile::TempDir, SharedStore)> {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = agent5_api::store::open(&StoreConfig::Sqlite {
        path: dir.path().join("agent5.db"),
    })
    .await
    .expect("sqlite");
    let mut out = vec![(dir, sqlite)];
    match std::env::var("AGENT5_TEST_MONGO_URI") {
        Ok(uri) => {
            let db = format!("t_{test}_{}", &new_id()[..8]);
            let mongo: SharedStore = Arc::new(
                agent5_api::store::mongo::MongoStore::connect_database(&uri, Some(&db))
                    .await
                    .expect("mongo"),
            );
            out.push((tempfile::tempdir().expect("dir"), mongo));
        }
        Err(_) => assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
        ),
    }
    out
}

/// One appliance life on `store`: its telephony (the real Telnyx client against the
/// fake carrier) and its membership, silent after `ttl`.
fn node(store: &SharedStore, fake: &FakeTelnyx, name: &str, ttl: Duration) -> Arc<Membership> {
    let telephony = Arc::new(
        Telephony::new(
            Arc::clone(store),
            TelnyxSettings {
                api_base: fake.url.clone(),
                api_key: Some(KEY.into()),
                connection_id: Some("conn-1".into()),
                from_number: Some("+3220000000".into()),
                stream_url: Some("wss://agent5.test/websocket".into()),
                verify_signatures: false,
                identity: Arc::new(Identity::new(name, &format!("https://{name}.test"))),
                ..TelnyxSettings::default()
            },
            ApiMetrics::new(),
        )
        .expect("telephony"),
    );
    Arc::new(Membership::new(
        Arc::clone(store),
        telephony,
        ClusterSettings {
            heartbeat_ttl: ttl,
            ..ClusterSettings::default()
        },
        ClusterMetrics::new(),
    ))
}

/// A live call held by `owner`, known to the carrier as `ccid`.
async fn live_call(store: &SharedStore, owner: CallOwner, ccid: &str) -> Call {
    store
        .create_call(Call {
            call_control_id: Some(ccid.into()),
            owner: Some(owner),
            ..Call::new(
                new_id(),
                Direction::Outbound,
                "+32475000001".into(),
                now_millis(),
            )
        })
        .await
        .expect("call")
}

/// The carrier's hang-up requests (paths carry the call control id percent-encoded).
fn hangups(fake: &FakeTelnyx) -> Vec<String> {
    let mut ids: Vec<String> = fake
        .requests_to("/actions/hangup")
        .into_iter()
        .map(|r| r.path)
        .collect();
    ids.sort();
    ids
}

const LIVE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_appliances_calls_are_ended_once_and_hung_up() {
    for (_dir, store) in stores("cluster_lost").await {
        let fake = FakeTelnyx::start(KEY).await;
        // b's heartbeat lasts no time at all: silent at once by the database's clock.
        let b = node(&store, &fake, "node-b", Duration::ZERO);
        let (a, c) = (
            node(&store, &fake, "node-a", LIVE),
            node(&store, &fake, "node-c", LIVE),
        );
        for n in [&a, &b, &c] {
            n.join().await.expect("join");
        }
        let b_owner = b.identity().owner();
        let b1 = live_call(&store, b_owner.clone(), "v2:b-1").await;
        let b2 = live_call(&store, b_owner.clone(), "v2:b-2").await;
        let mine = live_call(&store, a.identity().owner(), "v2:a-1").await;

        // Two survivors reap at once: the lease and the conditional claim let one act.
        let (ra, rc) = tokio::join!(a.reap(), c.reap());
        assert_eq!(
            ra.expect("reap") + rc.expect("reap"),
            2,
            "b's two calls, once"
        );
        assert_eq!(
            hangups(&fake),
            [
                "/v2/calls/v2%3Ab%2D1/actions/hangup",
                "/v2/calls/v2%3Ab%2D2/actions/hangup"
            ],
            "each hung up at the carrier once"
        );
        for id in [&b1.id, &b2.id] {
            let ended = store.get_call(id).await.expect("call");
            assert_eq!(ended.hangup_cause.as_deref(), Some("node_lost"));
            assert!(!ended.status.is_live(), "{:?}", ended.status);
            assert!(ended.ended_at.is_some());
        }
        assert_eq!(
            store.get_call(&mine.id).await.expect("call").status,
            CallStatus::Dialing,
            "a survivor's call is untouched"
        );
        let b_life = store
            .list_nodes()
            .await
            .expect("nodes")
            .into_iter()
            .find(|n| n.node.epoch == b_owner.epoch)
            .expect("b listed");
        assert!(!b_life.alive && b_life.lost_at.is_some());

        // b was only stopped: it comes back, finds its heartbeat refused, and carries on
        // as a new epoch; what was ended stays ended, and nothing is hung up again.
        b.beat().await.expect("beat");
        assert_ne!(b.identity().epoch(), b_owner.epoch, "a new epoch");
        assert_eq!(
            b.reap().await.expect("reap") + a.reap().await.expect("reap"),
            0
        );
        assert_eq!(hangups(&fake).len(), 2);
        assert_eq!(
            store
                .get_call(&b1.id)
                .await
                .expect("call")
                .hangup_cause
                .as_deref(),
            Some("node_lost")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_ends_what_the_crash_left_and_a_clean_exit_leaves() {
    for (_dir, store) in stores("cluster_restart").await {
        let fake = FakeTelnyx::start(KEY).await;
        // One box: its first life crashes (no leave) with a call live...
        let crashed = node(&store, &fake, "box", Duration::ZERO);
        crashed.join().await.expect("join");
        let orphan = live_call(&store, crashed.identity().owner(), "v2:orphan").await;
        // ...and the restarted process (same node name, new epoch) ends it.
        let restarted = node(&store, &fake, "box", LIVE);
        restarted.join().await.expect("join");
        assert_eq!(restarted.reap().await.expect("reap"), 1);
        assert_eq!(hangups(&fake), ["/v2/calls/v2%3Aorphan/actions/hangup"]);
        assert!(!store
            .get_call(&orphan.id)
            .await
            .expect("call")
            .status
            .is_live());

        // A clean exit with a call still live keeps the record (it expires and the call
        // is ended then); with none, the life leaves the list at once.
        let held = live_call(&store, restarted.identity().owner(), "v2:held").await;
        restarted.leave().await;
        let epochs = |nodes: Vec<agent5_api::model::NodeStatus>| {
            nodes.into_iter().map(|n| n.node.epoch).collect::<Vec<_>>()
        };
        let listed = epochs(store.list_nodes().await.expect("nodes"));
        assert!(listed.contains(&restarted.identity().epoch()), "{listed:?}");
        agent5_api::calls::Telephony::new(
            Arc::clone(&store),
            TelnyxSettings::default(),
            ApiMetrics::new(),
        )
        .expect("telephony")
        .update(&held.id, |c| {
            c.ended_at = Some(now_millis());
            c.hangup_cause = Some("normal_clearing".into());
            agent5_api::calls::state::refresh(c);
        })
        .await
        .expect("ended");
        restarted.leave().await;
        let listed = epochs(store.list_nodes().await.expect("nodes"));
        assert!(
            !listed.contains(&restarted.identity().epoch()),
            "{listed:?}"
        );
        assert_eq!(hangups(&fake).len(), 1, "nothing more hung up");
    }
}

/// With several appliances, the one that dials a call names itself to the carrier
/// (media stream and webhooks); a webhook that lands on another appliance anyway is
/// applied to the call there: the store decides, not the appliance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_appliance_names_itself_for_its_calls_and_any_applies_their_webhooks() {
    for (_dir, store) in stores("cluster_urls").await {
        let fake = FakeTelnyx::start(KEY).await;
        let b = node(&store, &fake, "node-b", LIVE);
        let c = node(&store, &fake, "node-c", LIVE);
        let (call, _) = b
            .telephony()
            .dial(DialRequest {
                to: "+32475000009".into(),
                agent_profile: None,
                customer_id: None,
                delivery_code: None,
                campaign_id: None,
                lang: None,
                idempotency_key: None,
                call_id: None,
            })
            .await
            .expect("dial");
        assert_eq!(call.owner, Some(b.identity().owner()));
        let dial = fake.requests_to("/v2/calls").pop().expect("dialled");
        assert_eq!(
            dial.body["stream_url"],
            format!("wss://node-b.test/websocket?call={}", call.id)
        );
        assert_eq!(
            dial.body["webhook_url"],
            "https://node-b.test/api/telnyx/events"
        );

        let body = envelope(
            &new_id(),
            "call.answered",
            &carrier_time(now_millis()),
            json!({
                "call_control_id": call.call_control_id,
                "client_state": client_state(&call.id),
                "direction": "outgoing",
            }),
        );
        let event = Event::parse(body.as_bytes()).expect("event");
        c.telephony().process(&event).await.expect("processed on c");
        let answered = store.get_call(&call.id).await.expect("call");
        assert!(answered.answered_at.is_some(), "{answered:?}");
        assert_eq!(answered.owner, Some(b.identity().owner()), "still b's call");
    }
}

/// Listen-in and takeover sockets for another appliance's call are answered before the
/// upgrade with where the call is: `421 call_on_other_node` while that appliance lives,
/// `410 node_lost` once it was lost; the real binary on SQLite, the other appliances'
/// records written into its store by this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_for_another_appliances_call_says_where_it_is() {
    use agent5_e2e::client::{self, empty, get};
    use agent5_e2e::{agent5_bin, Appliance, Spec};
    const TOKEN: &str = "cluster-token-aaaaaaaaaa";
    let app = Appliance::start(Spec::new(
        agent5_bin!(),
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n"),
    ));
    let store = agent5_api::store::open(&StoreConfig::Sqlite {
        path: app.dir().join("data/agent5.db"),
    })
    .await
    .expect("the appliance's store");
    let node_b = agent5_api::model::NodeRecord {
        id: "node-b".into(),
        epoch: "b-life".into(),
        public_url: "https://node-b.test".into(),
        internal_addr: String::new(),
        version: "test".into(),
        started_at: now_millis(),
    };
    let node_c = agent5_api::model::NodeRecord {
        id: "node-c".into(),
        epoch: "c-life".into(),
        ..node_b.clone()
    };
    store.register_node(node_b, 60_000).await.expect("b");
    store.register_node(node_c, 0).await.expect("c");
    assert_eq!(
        store
            .claim_lost_node("node-c", "c-life", now_millis())
            .await,
        Ok(true)
    );
    let owner = |node: &str, epoch: &str| CallOwner {
        node: node.into(),
        epoch: epoch.into(),
    };
    let on_b = live_call(&store, owner("node-b", "b-life"), "v2:on-b").await;
    let on_c = live_call(&store, owner("node-c", "c-life"), "v2:on-c").await;
    let upgrade = |path: String| {
        get(&path)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("request")
    };
    for (path, status, code) in [
        (
            format!("/monitor?call={}", on_b.id),
            421,
            "call_on_other_node",
        ),
        (
            format!("/operator-bridge?call={}", on_b.id),
            421,
            "call_on_other_node",
        ),
        (format!("/monitor?call={}", on_c.id), 410, "node_lost"),
    ] {
        let reply = client::send(client::tcp(app.addr("http")).await, upgrade(path.clone())).await;
        assert_eq!(reply.status, status, "{path}");
        let body = reply.json();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        if status == 421 {
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("node-b") && message.contains("https://node-b.test"),
                "{message}"
            );
        }
    }
}
