//! Three real appliances on one store (SecantusDB when `AGENT5_TEST_MONGO_URI` is set,
//! else one SQLite file), each with its own recordings directory and an internal
//! listener (a Unix socket) signed with one shared secret; one fake carrier and one
//! fake agent. A call held by node B is listened to and taken over through node A (the
//! caller hears the operator's tone), a second operator through node C gets B's `4409
//! call_already_taken` unchanged, C hangs it up, and its recording is served by A
//! during and after the call byte for byte as B has it. Then B is killed mid-call: A
//! ends the call `node_lost` and still serves its recording up to the last copy.

mod call_rig;

use std::time::Duration;

use agent5_e2e::client::{self, empty};
use agent5_e2e::fake_media::MediaClient;
use agent5_e2e::fake_realtime::{FakeRealtime, Script};
use agent5_e2e::fake_telnyx::{FakeTelnyx, TEST_PUBLIC_KEY_B64};
use agent5_e2e::sse::EventStream;
use agent5_e2e::tones::{caller_heard_tone, mic_chunks};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use futures_util::{SinkExt, StreamExt};
use http::Request;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use call_rig::{API_KEY, OPENAI_KEY, TOKEN};

const SECRET: &str = "cluster-hop-test-secret-0123456789abcdef";

struct Cluster {
    telnyx: FakeTelnyx,
    agent: FakeRealtime,
    store: String,
}

impl Cluster {
    fn start(&self, node: &str) -> Appliance {
        let config = format!(
            "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
             {}[openai]\napi_key = \"{OPENAI_KEY}\"\nrealtime_url = \"{}\"\n\
             [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
             phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
             stream_url = \"wss://agent5.test/websocket\"\nretry_backoff_ms = 5\n\
             [dialer]\nenabled = false\n[cluster]\nnode = \"{node}\"\nheartbeat_ttl_secs = 3\n\
             internal_listen = \"unix:internal.sock\"\nsecret = \"{SECRET}\"\nrecording_interval_secs = 1\n",
            self.store, self.agent.url, self.telnyx.url
        );
        tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)))
    }
}

async fn get(app: &Appliance, path: &str) -> client::Reply {
    let req = Request::get(path)
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(empty())
        .expect("req");
    client::send(client::unix(&app.unix_socket("http")).await, req).await
}

async fn post(app: &Appliance, path: &str, body: Value) -> client::Reply {
    let req = Request::post(path)
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(client::body(body.to_string()))
        .expect("req");
    client::send(client::unix(&app.unix_socket("http")).await, req).await
}

/// Dials through `app`, connects the phone to it and waits for the greeting.
async fn answered_on(app: &Appliance, telnyx: &FakeTelnyx, to: &str) -> (String, MediaClient) {
    let (id, token) =
        call_rig::dial_at(&app.unix_socket("http"), telnyx, json!({ "to": to })).await;
    let mut phone = MediaClient::connect(&app.unix_socket("http"), &id, Some(&token), true).await;
    phone.connected();
    phone.start("PCMU");
    phone
        .wait("the greeting", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() >= 5
        })
        .await;
    (id, phone)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>;

/// Opens `path?query` on `app` as a browser would, with the shared token.
async fn socket(app: &Appliance, path: &str, query: &str) -> Socket {
    client::websocket(
        &app.unix_socket("http"),
        &format!("{path}?{query}"),
        Some(TOKEN),
    )
    .await
    .unwrap_or_else(|e| panic!("{path} through the appliance: {e}"))
}

async fn metric(app: &Appliance, series: &str) -> f64 {
    let text = String::from_utf8_lossy(&get(app, "/metrics").await.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// The recording as `app` serves it, once it holds at least `min` bytes (the copy
/// into the store runs every second on the appliance holding the call).
async fn recording_at_least(app: &Appliance, id: &str, min: usize) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(app, &format!("/api/calls/{id}/recording")).await;
        if r.status.as_u16() == 200 && r.body.len() >= min {
            return r.body.to_vec();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the recording never reached {min} bytes: {} {} bytes",
            r.status,
            r.body.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the call on `app` until `pred` holds (long polls on its revision).
async fn call_until(app: &Appliance, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut uri = format!("/api/calls/{id}");
    loop {
        let v = get(app, &uri).await.json();
        if pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} never got there: {v:#}"
        );
        uri = format!(
            "/api/calls/{id}?after={}&wait=2",
            v["revision"].as_str().unwrap_or_default()
        );
    }
}

/// WAV header size of a recording (µ-law with a `fact` chunk).
const HEADER: usize = 58;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)] // one story across three appliances
async fn operators_reach_a_call_from_any_appliance_and_its_recording_survives_its_node() {
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = Cluster {
        telnyx: FakeTelnyx::start(API_KEY).await,
        agent: FakeRealtime::start(Script::default()).await,
        store: agent5_e2e::shared_store_section(dir.path(), "t_cluster_hop"),
    };
    let a = cluster.start("node-a");
    let b = cluster.start("node-b");
    let c = cluster.start("node-c");

    // A call held by B, announced by the live streams of A and C.
    let on_a = EventStream::open(&a.unix_socket("http"), "/api/calls/live/events", TOKEN).await;
    let on_c = EventStream::open(&c.unix_socket("http"), "/api/calls/live/events", TOKEN).await;
    let dialled = std::time::Instant::now();
    let (id, mut phone) = answered_on(&b, &cluster.telnyx, "+32475123456").await;
    for (node, events) in [("A", &on_a), ("C", &on_c)] {
        let started = events.wait("call.started", &id).await;
        assert_eq!(started["node"], "node-b", "{started}");
        assert_eq!(started["local"], false, "{started}");
        println!(
            "B's call announced on {node} {} ms after the dial",
            dialled.elapsed().as_millis()
        );
    }

    // Listen-in through A: B's audio arrives through the hop.
    let mut ears = socket(&a, "/monitor", &format!("call={id}&binary=1")).await;
    let ts = phone.talk(0x55, 25, 0, None).await;
    let first = tokio::time::timeout(Duration::from_secs(10), ears.next())
        .await
        .expect("listen-in audio in time");
    assert!(
        matches!(first, Some(Ok(Message::Binary(_) | Message::Text(_)))),
        "{first:?}"
    );

    // Takeover through A: the caller on B hears the operator's tone.
    let (mut bob_tx, mut bob) = socket(&a, "/operator-bridge", &format!("room={id}&operator=bob"))
        .await
        .split();
    cluster
        .agent
        .wait_event(0, |e| e["type"] == "response.cancel")
        .await;
    let before = phone.audio().len();
    for chunk in mic_chunks(440.0, 1) {
        bob_tx.send(Message::text(chunk)).await.expect("send");
    }
    let bob_ears = tokio::spawn(async move { while let Some(Ok(_)) = bob.next().await {} });
    phone
        .wait("the operator's voice", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() >= 5 + 50
        })
        .await;
    assert!(
        caller_heard_tone(&phone.audio()[before..before + 8000], 440.0),
        "the operator's tone, spoken through A, reaches the caller on B"
    );

    // A second operator through C: B's refusal arrives unchanged.
    let mut eve = socket(&c, "/operator-bridge", &format!("room={id}&operator=eve")).await;
    match tokio::time::timeout(Duration::from_secs(10), eve.next()).await {
        Ok(Some(Ok(Message::Close(Some(f))))) => assert_eq!(
            (u16::from(f.code), f.reason.as_str()),
            (4409, "call_already_taken")
        ),
        other => panic!("expected B's close through C, got {other:?}"),
    }
    assert_eq!(
        metric(
            &a,
            "agent5_cluster_forwarded_sockets_total{result=\"spliced\"}"
        )
        .await,
        2.0
    );
    assert_eq!(
        metric(
            &c,
            "agent5_cluster_forwarded_sockets_total{result=\"spliced\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            &b,
            "agent5_cluster_forwarded_sockets_total{result=\"spliced\"}"
        )
        .await,
        0.0,
        "the owner forwards nothing"
    );

    // B's internal listener refuses what is not a signed, forwardable socket.
    let internal = b.dir().join("internal.sock");
    let api = client::send(
        client::unix(&internal).await,
        Request::get("/api/calls")
            .header("host", "agent5-internal")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await;
    assert_eq!(
        api.status.as_u16(),
        404,
        "the API is not on the internal listener"
    );
    let unsigned = client::websocket(
        &internal,
        &format!("/operator-bridge?room={id}&operator=mallory"),
        None,
    )
    .await;
    match unsigned {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 401);
        }
        other => panic!(
            "an unsigned socket was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    assert_eq!(
        metric(&b, "agent5_cluster_hop_refused_total{reason=\"unsigned\"}").await,
        1.0
    );

    // The recording from A during the call: half a second of audio at least.
    phone.talk(0x56, 50, ts, None).await;
    let during = recording_at_least(&a, &id, HEADER + 8_000).await;
    assert_eq!(&during[0..4], b"RIFF");

    // Hang-up through C; the carrier closes the media; the call ends on B.
    let r = post(&c, &format!("/api/calls/{id}/hangup"), json!({})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    bob_tx.close().await.expect("bob leaves");
    let _ = bob_ears.await;
    phone.stop();
    phone.close();
    let ended = call_until(&a, &id, |v| v["recording"].is_string()).await;
    assert_eq!(ended["hangup_requested"], "api", "{ended:#}");

    // After the call: A serves exactly what B has on its disk.
    let on_b = get(&b, &format!("/api/calls/{id}/recording")).await;
    assert_eq!(on_b.status.as_u16(), 200);
    let on_a = get(&a, &format!("/api/calls/{id}/recording")).await;
    assert_eq!(on_a.status.as_u16(), 200);
    assert!(on_a.body.len() >= during.len());
    assert!(
        on_a.body == on_b.body,
        "A's copy ({} bytes) is B's file ({} bytes)",
        on_a.body.len(),
        on_b.body.len()
    );
    drop(ears);

    // A second call on B; B is killed once A can read some of its recording.
    let (lost, mut phone2) = answered_on(&b, &cluster.telnyx, "+32475123457").await;
    phone2.talk(0x57, 50, 0, None).await;
    let before_kill = recording_at_least(&a, &lost, HEADER + 8_000).await;
    b.signal("KILL");
    call_until(&a, &lost, |v| v["hangup_cause"] == "node_lost").await;
    let after = get(&a, &format!("/api/calls/{lost}/recording")).await;
    assert_eq!(after.status.as_u16(), 200);
    assert!(
        after.body.len() >= before_kill.len(),
        "what was copied before the loss stays: {} < {}",
        after.body.len(),
        before_kill.len()
    );
    assert_eq!(
        after.body[HEADER..before_kill.len()],
        before_kill[HEADER..],
        "the audio copied before the loss is unchanged"
    );
    // The lost call is over everywhere: a listen-in through C finds no such call
    // (410 `node_lost` is the answer only between the loss and the call's end).
    let mut late = socket(&c, "/monitor", &format!("call={lost}")).await;
    match tokio::time::timeout(Duration::from_secs(10), late.next()).await {
        Ok(Some(Ok(Message::Close(Some(f))))) => assert_eq!(f.reason.as_str(), "unknown_call"),
        other => panic!("expected unknown_call, got {other:?}"),
    }
}
