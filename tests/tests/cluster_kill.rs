//! Three real appliances on one store (SecantusDB when `AGENT5_TEST_MONGO_URI` is set,
//! else one SQLite file), a heartbeat ttl of 3 s, the fake carrier. A call on node B,
//! B killed (SIGKILL): node A ends it as `node_lost` and the carrier gets its hang-up,
//! within the heartbeat bound. A call on node C, C stopped (SIGSTOP) past its ttl and
//! continued (SIGCONT): its call is ended once, C comes back as a new epoch, nothing is
//! ended or hung up twice.

mod telnyx_rig;

use std::time::{Duration, Instant};

use agent5_api::model::new_id;
use agent5_e2e::fake_telnyx::{carrier_time, client_state, now_millis, FakeTelnyx};
use agent5_e2e::fake_telnyx::{WebhookSigner, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use serde_json::{json, Value};
use telnyx_rig::{api_at, deliver_at, event, metric, API_KEY, TOKEN};

fn start(fake: &FakeTelnyx, store: &str, node: &str) -> Appliance {
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         {store}[telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\nretry_backoff_ms = 5\n\
         [dialer]\nenabled = false\n[cluster]\nnode = \"{node}\"\nheartbeat_ttl_secs = 3\n",
        fake.url
    );
    tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)))
}

/// Dials through `app`; the call's id and the carrier's id for it.
async fn dial(app: &Appliance, fake: &FakeTelnyx, to: &str) -> (String, String) {
    let before = fake.requests_to("/v2/calls").len();
    let r = api_at(
        &app.unix_socket("http"),
        "POST",
        "/api/calls",
        Some(json!({ "to": to })),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let call = r.json();
    assert_eq!(fake.requests_to("/v2/calls").len(), before + 1);
    (
        call["id"].as_str().expect("id").to_owned(),
        call["call_control_id"]
            .as_str()
            .expect("carrier id")
            .to_owned(),
    )
}

/// The carrier says the call was answered, to `app` (whichever appliance it lands on).
async fn answered(app: &Appliance, call_id: &str, ccid: &str) {
    let payload = event(
        &new_id(),
        "call.answered",
        &carrier_time(now_millis()),
        json!({"call_control_id": ccid, "client_state": client_state(call_id), "direction": "outgoing"}),
    );
    let signer = WebhookSigner::test_key();
    let ts = agent5_e2e::fake_telnyx::now_unix();
    let headers = vec![
        ("telnyx-timestamp", ts.to_string()),
        ("telnyx-signature-ed25519", signer.sign(ts, &payload)),
    ];
    let r = deliver_at(
        &app.unix_socket("http"),
        "/api/telnyx/events",
        &payload,
        &headers,
    )
    .await;
    assert_eq!(r.status, 200);
}

/// Reads the call on `app` until `pred` holds (long polls on the call's revision).
async fn call_until(app: &Appliance, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let sock = app.unix_socket("http");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut uri = format!("/api/calls/{id}");
    loop {
        let v = api_at(&sock, "GET", &uri, None, &[]).await.json();
        if pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} never got there: {v:#}\n{}",
            app.log_text()
                .lines()
                .filter(|l| l.contains("cluster") || l.contains("lost") || l.contains("WARN"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        uri = format!(
            "/api/calls/{id}?after={}&wait=2",
            v["revision"].as_str().unwrap_or_default()
        );
    }
}

async fn cluster(app: &Appliance) -> Vec<Value> {
    let ready = api_at(&app.unix_socket("http"), "GET", "/readyz", None, &[])
        .await
        .json();
    ready["cluster"].as_array().cloned().unwrap_or_default()
}

fn hangups_of(fake: &FakeTelnyx, ccid: &str) -> usize {
    let encoded = ccid.replace(':', "%3A").replace('-', "%2D");
    fake.requests_to("/actions/hangup")
        .iter()
        .filter(|r| r.path.contains(&encoded))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_appliances_call_is_ended_and_a_stopped_one_comes_back_as_new() {
    let fake = FakeTelnyx::start(API_KEY).await;
    let dir = tempfile::tempdir().expect("dir");
    let store = agent5_e2e::shared_store_section(dir.path(), "t_cluster_kill");
    let a = start(&fake, &store, "node-a");
    let b = start(&fake, &store, "node-b");
    let c = start(&fake, &store, "node-c");

    // A call on b, answered (the webhook lands on a: applied all the same).
    let (on_b, ccid_b) = dial(&b, &fake, "+32470000881").await;
    answered(&a, &on_b, &ccid_b).await;
    call_until(&a, &on_b, |v| !v["answered_at"].is_null()).await;

    b.signal("KILL");
    let killed = Instant::now();
    let ended = call_until(&a, &on_b, |v| v["hangup_cause"] == "node_lost").await;
    let after = killed.elapsed();
    assert!(!ended["ended_at"].is_null(), "{ended:#}");
    println!("b's call ended as node_lost {after:?} after SIGKILL (ttl 3 s)");
    assert!(
        after < Duration::from_secs(15),
        "well within a few heartbeat ttls: {after:?}"
    );
    fake.wait_for(1, |r| r.path.ends_with("/actions/hangup"))
        .await;
    assert_eq!(hangups_of(&fake, &ccid_b), 1, "hung up at the carrier once");
    let lost: Vec<Value> = cluster(&a)
        .await
        .into_iter()
        .filter(|n| n["id"] == "node-b")
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["state"], "lost");

    // A call on c; c stopped past its ttl, then continued.
    let (on_c, ccid_c) = dial(&c, &fake, "+32470000882").await;
    let c_epoch = cluster(&a)
        .await
        .into_iter()
        .find(|n| n["id"] == "node-c")
        .map(|n| n["epoch"].clone())
        .expect("c listed");
    c.signal("STOP");
    call_until(&a, &on_c, |v| v["hangup_cause"] == "node_lost").await;
    c.signal("CONT");
    // c's next beat is refused: it joins again as a new epoch, alive.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lives: Vec<Value> = cluster(&a)
            .await
            .into_iter()
            .filter(|n| n["id"] == "node-c")
            .collect();
        let back = lives
            .iter()
            .any(|n| n["epoch"] != c_epoch && n["state"] == "alive");
        if back {
            assert!(
                lives
                    .iter()
                    .any(|n| n["epoch"] == c_epoch && n["state"] == "lost"),
                "{lives:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "c never came back: {lives:?}"
        );
        tokio::task::yield_now().await;
    }
    let still = call_until(&c, &on_c, |_| true).await;
    assert_eq!(still["hangup_cause"], "node_lost", "nothing resurrected");
    assert_eq!(hangups_of(&fake, &ccid_c), 1, "hung up once");
    let metrics = String::from_utf8_lossy(
        &api_at(&c.unix_socket("http"), "GET", "/metrics", None, &[])
            .await
            .body,
    )
    .into_owned();
    assert_eq!(
        metric(&metrics, "agent5_cluster_epochs_renewed_total"),
        1.0,
        "c noticed it had been declared lost"
    );
    drop(a);
}
