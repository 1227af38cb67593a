//! Two real appliances dial one campaign on one MongoDB (SecantusDB in `make test`;
//! skipped without `AGENT5_TEST_MONGO_URI`: several appliances on one SQLite file is a
//! test convenience, and a process stopped inside a write would hold SQLite's file lock
//! for everyone), campaign lease 3 s, heartbeat ttl 3 s. The appliance dialling is stopped (SIGSTOP) past both, the other takes the
//! campaign over and ends the stopped one's calls; the stopped one is continued
//! (SIGCONT) and dials nothing more: every phone is dialled exactly once.

mod telnyx_rig;

use std::collections::HashSet;
use std::time::Duration;

use agent5_api::model::{new_id, now_millis, Campaign, Contact, NewCustomer};
use agent5_api::store::SharedStore;
use agent5_e2e::fake_telnyx::{FakeTelnyx, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use serde_json::{json, Value};
use telnyx_rig::{dialler_ticks, API_KEY, TOKEN};

const PHONES: usize = 12;

/// The MongoDB every appliance shares: its `[store]` section and a handle to seed it;
/// `None` without one.
async fn shared_store() -> Option<(String, SharedStore)> {
    let Ok(uri) = std::env::var("AGENT5_TEST_MONGO_URI") else {
        assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
        );
        return None;
    };
    let db = format!("t_dialer_pause_{}", &new_id()[..8]);
    let store: SharedStore = std::sync::Arc::new(
        agent5_api::store::mongo::MongoStore::connect_database(&uri, Some(&db))
            .await
            .expect("mongo"),
    );
    let section = format!(
        "[store]\nmongo_uri = \"{}\"\n",
        uri.replacen("/?", &format!("/{db}?"), 1)
    );
    Some((section, store))
}

/// Twelve customers and a running campaign open all day (two dials a second).
async fn seed(store: &SharedStore) {
    let people = (0..PHONES)
        .map(|i| NewCustomer {
            invoice: Contact {
                name: format!("P{i}"),
                phone: Some(format!("+3247000{i:04}")),
                country: "BE".into(),
                ..Contact::default()
            },
            deliveries: Vec::new(),
            tags: Vec::new(),
            custom: serde_json::Map::new(),
        })
        .collect();
    store.upsert_customers(people).await.expect("customers");
    store
        .create_campaign(Campaign {
            id: new_id(),
            name: "Paused".into(),
            description: String::new(),
            status: "running".into(),
            audience: json!({}),
            schedule: json!({"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "00:00", "end": "24:00"}], "allow_outside_legal_hours": true}),
            dialer: json!({"calls_per_second": 2.0, "max_concurrent": 50}),
            script_profile: String::new(),
            created_at: now_millis(),
            updated_at: now_millis(),
            version: 0,
            paused_reason: None,
        })
        .await
        .expect("campaign");
}

fn start(fake: &FakeTelnyx, store: &str, node: &str) -> Appliance {
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         {store}[telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\nretry_backoff_ms = 5\n\
         [dialer]\nnode = \"{node}\"\nlease_ttl_secs = 3\n\
         [cluster]\nnode = \"{node}\"\npublic_url = \"https://{node}.test\"\nheartbeat_ttl_secs = 3\n",
        fake.url
    );
    tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)))
}

/// Every campaign dial so far: (the phone, the appliance that placed it).
fn dials(fake: &FakeTelnyx) -> Vec<(String, String)> {
    fake.requests_to("/v2/calls")
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let who = |v: &Value| {
                v["webhook_url"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("https://"))
                    .and_then(|u| u.split('.').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                r.body["to"].as_str().unwrap_or_default().to_owned(),
                who(&r.body),
            )
        })
        .collect()
}

/// Waits for the carrier's dial requests until `pred` holds on them.
async fn dials_until(fake: &FakeTelnyx, pred: impl Fn(&[(String, String)]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = dials(fake);
        if pred(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dials never got there: {now:?}"
        );
        // The next dial, or a look again (the fake panics after its own 10 s).
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            fake.wait_for(now.len() + 1, |r| {
                r.method == "POST" && r.path == "/v2/calls"
            }),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appliance_stopped_past_its_lease_and_heartbeat_dials_nobody_twice() {
    let Some((section, store)) = shared_store().await else {
        return;
    };
    seed(&store).await;
    let fake = FakeTelnyx::start(API_KEY).await;
    let a = start(&fake, &section, "node-a");
    let b = start(&fake, &section, "node-b");

    // A few dials in, the appliance placing them is stopped.
    dials_until(&fake, |d| d.len() >= 3).await;
    let holder = dials(&fake)[2].1.clone();
    let (stopped, other, other_name) = if holder == "node-a" {
        (&a, &b, "node-b")
    } else {
        (&b, &a, "node-a")
    };
    stopped.signal("STOP");
    // The other takes the campaign over once the lease has expired, and dials the rest.
    let taken_over = tokio::spawn({
        let fake = fake.clone();
        let other_name = other_name.to_owned();
        async move {
            dials_until(&fake, |d| {
                d.iter().any(|(_, who)| *who == other_name) && d.len() >= PHONES
            })
            .await;
        }
    });
    if let Err(e) = taken_over.await {
        panic!(
            "{e}\n{}",
            other
                .log_text()
                .lines()
                .filter(|l| l.contains("dial") || l.contains("lease") || l.contains("WARN"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Continued: it finds its lease and its heartbeat gone, and dials nothing more.
    stopped.signal("CONT");
    dialler_ticks(&stopped.unix_socket("http"), 3.0).await;
    dialler_ticks(&other.unix_socket("http"), 3.0).await;

    let all = dials(&fake);
    let phones: HashSet<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(phones.len(), PHONES, "every phone dialled: {all:?}");
    assert_eq!(all.len(), PHONES, "no phone dialled twice: {all:?}");
    assert!(
        all.iter().any(|(_, who)| *who == holder) && all.iter().any(|(_, who)| who == other_name),
        "the campaign moved between the appliances: {all:?}"
    );
}
