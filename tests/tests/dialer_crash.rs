//! The real appliance killed (SIGKILL) between a campaign dial's reservation and the
//! carrier's answer, then started again on the same database: the phone is not dialled
//! a second time, and the interrupted attempt is settled from the carrier's webhooks
//! when they arrive.

mod telnyx_rig;

use agent5_api::model::{new_id, Campaign, Contact, NewCustomer};
use agent5_api::store::StoreConfig;
use agent5_e2e::fake_telnyx::{
    carrier_time, client_state, decode_client_state, now_millis, FakeTelnyx, TEST_PUBLIC_KEY_B64,
};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use serde_json::{json, Value};
use telnyx_rig::{api_at, deliver_at, dialler_ticks as ticks, event, API_KEY, TOKEN};

const PHONE: &str = "+32470000777";

fn config(fake: &FakeTelnyx, db: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         [store]\nsqlite_path = \"{}\"\n\
         [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\nretry_backoff_ms = 5\n",
        db.display(),
        fake.url
    )
}

/// One customer and a running campaign open all day, every day, written straight
/// into the database before the appliance starts.
async fn seed(db: &std::path::Path) -> String {
    let store = agent5_api::store::open(&StoreConfig::Sqlite {
        path: db.to_path_buf(),
    })
    .await
    .expect("store");
    store
        .upsert_customers(vec![NewCustomer {
            invoice: Contact {
                name: "Kim".into(),
                phone: Some(PHONE.into()),
                country: "BE".into(),
                ..Contact::default()
            },
            deliveries: Vec::new(),
            tags: Vec::new(),
            custom: serde_json::Map::new(),
        }])
        .await
        .expect("customer");
    let c = store
        .create_campaign(Campaign {
            id: new_id(),
            name: "Crash".into(),
            description: String::new(),
            status: "running".into(),
            audience: json!({}),
            schedule: json!({"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "00:00", "end": "24:00"}], "allow_outside_legal_hours": true}),
            dialer: json!({"calls_per_second": 10.0}),
            script_profile: String::new(),
            created_at: now_millis(),
            updated_at: now_millis(),
            version: 0,
            paused_reason: None,
        })
        .await
        .expect("campaign");
    c.id
}

fn dials(fake: &FakeTelnyx) -> Vec<Value> {
    fake.requests_to("/calls")
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_interrupted_by_sigkill_is_not_repeated_and_is_settled_from_webhooks() {
    let fake = FakeTelnyx::start(API_KEY).await;
    let shared = tempfile::tempdir().expect("dir");
    let db = shared.path().join("agent5.db");
    let campaign_id = seed(&db).await;

    // The carrier takes the dial and never answers; the appliance dies waiting.
    fake.stall("/v2/calls");
    let first = tokio::task::block_in_place(|| {
        Appliance::start(Spec::new(agent5_bin!(), config(&fake, &db)))
    });
    let dialled = fake
        .wait_for(1, |r| r.method == "POST" && r.path == "/v2/calls")
        .await;
    first.signal("KILL");
    drop(first);
    let call_id = dialled[0].body["client_state"]
        .as_str()
        .and_then(decode_client_state)
        .and_then(|s| s.strip_prefix("agent5:").map(str::to_owned))
        .expect("the dial names its attempt");

    let second = tokio::task::block_in_place(|| {
        Appliance::start(Spec::new(agent5_bin!(), config(&fake, &db)))
    });
    let sock = second.unix_socket("http");
    ticks(&sock, 3.0).await;
    assert_eq!(
        dials(&fake).len(),
        1,
        "the open attempt is never dialled again"
    );
    let attempts = api_at(
        &sock,
        "GET",
        &format!("/api/campaigns/{campaign_id}/attempts"),
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(attempts["items"][0]["id"], call_id.as_str());
    assert_eq!(attempts["items"][0]["state"], "reserved");

    // The carrier did place the call: its webhooks settle the attempt.
    let signer = agent5_e2e::fake_telnyx::WebhookSigner::test_key();
    for kind in [
        "call.initiated",
        "call.answered",
        "streaming.started",
        "call.hangup",
    ] {
        let payload = event(
            &new_id(),
            kind,
            &carrier_time(now_millis()),
            json!({"call_control_id": "v2:late-1", "client_state": client_state(&call_id),
                   "direction": "outgoing", "to": PHONE, "hangup_cause": "normal_clearing"}),
        );
        let ts = agent5_e2e::fake_telnyx::now_unix();
        let headers = vec![
            ("telnyx-timestamp", ts.to_string()),
            ("telnyx-signature-ed25519", signer.sign(ts, &payload)),
        ];
        let r = deliver_at(&sock, "/api/telnyx/events", &payload, &headers).await;
        assert_eq!(r.status, 200);
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let attempt = loop {
        ticks(&sock, 1.0).await;
        let a = api_at(
            &sock,
            "GET",
            &format!("/api/campaigns/{campaign_id}/attempts"),
            None,
            &[],
        )
        .await
        .json();
        if a["items"][0]["state"] == "ended" {
            break a["items"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never settled: {a}");
    };
    assert_eq!(attempt["disposition"], "completed");
    ticks(&sock, 2.0).await;
    assert_eq!(
        dials(&fake).len(),
        1,
        "a person reached is not called again"
    );
    let stats = api_at(
        &sock,
        "GET",
        &format!("/api/campaigns/{campaign_id}/stats"),
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(stats["status"], "completed", "{stats}");
    drop(shared);
}
