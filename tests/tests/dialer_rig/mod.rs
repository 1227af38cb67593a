//! The dialler rig shared by the dialler tests: a SQLite store, the fake carrier, the
//! real Telnyx client and a dialler on an injected clock, and carrier events sent as
//! Telnyx would.
#![allow(dead_code)] // each test crate uses its own part of the rig

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent5_api::calls::{Telephony, TelnyxSettings};
use agent5_api::dialer::{Dialer, DialerMetrics, DialerSettings, Now};
use agent5_api::integrations::telnyx::events::Event;
use agent5_api::metrics::ApiMetrics;
use agent5_api::model::{new_id, CallAttempt, Campaign, Contact, NewCustomer};
use agent5_api::store::{SharedStore, StoreConfig};
use agent5_e2e::fake_telnyx::{carrier_time, decode_client_state, envelope, FakeTelnyx};
use jiff::Timestamp;
use serde_json::{json, Value};

pub const KEY: &str = "KEYdialer";

pub struct SimClock(pub AtomicI64);

impl Now for SimClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct Rig {
    pub store: SharedStore,
    pub fake: FakeTelnyx,
    pub telephony: Arc<Telephony>,
    pub clock: Arc<SimClock>,
    pub dialer: Arc<Dialer>,
    pub _dir: tempfile::TempDir,
}

pub fn ms(ts: &str) -> i64 {
    ts.parse::<Timestamp>().expect("instant").as_millisecond()
}

pub async fn rig(start: i64, max_calls: u64) -> Rig {
    let dir = tempfile::tempdir().expect("dir");
    let store = agent5_api::store::open(&StoreConfig::Sqlite {
        path: dir.path().join("agent5.db"),
    })
    .await
    .expect("store");
    let fake = FakeTelnyx::start(KEY).await;
    rig_on(store, fake, start, max_calls, "node-a", dir)
}

pub fn rig_on(
    store: SharedStore,
    fake: FakeTelnyx,
    start: i64,
    max_calls: u64,
    node: &str,
    dir: tempfile::TempDir,
) -> Rig {
    let telephony = Arc::new(
        Telephony::new(
            Arc::clone(&store),
            TelnyxSettings {
                api_base: fake.url.clone(),
                api_key: Some(KEY.into()),
                connection_id: Some("conn-1".into()),
                from_number: Some("+3220000000".into()),
                stream_url: Some("wss://agent5.test/websocket".into()),
                verify_signatures: false,
                max_concurrent_calls: max_calls,
                retry: agent5_api::integrations::telnyx::client::Retry {
                    attempts: 1,
                    backoff: Duration::from_millis(1),
                },
                ..TelnyxSettings::default()
            },
            ApiMetrics::new(),
        )
        .expect("telephony"),
    );
    let clock = Arc::new(SimClock(AtomicI64::new(start)));
    let dialer = Arc::new(Dialer::new(
        Arc::clone(&store),
        Arc::clone(&telephony),
        Arc::clone(&clock) as Arc<dyn Now>,
        DialerSettings {
            node: node.into(),
            inbound_reserve: 1,
            refill_every: Duration::from_secs(3600),
            ..DialerSettings::default()
        },
        DialerMetrics::new(),
    ));
    Rig {
        store,
        fake,
        telephony,
        clock,
        dialer,
        _dir: dir,
    }
}

pub fn customer(name: &str, phone: &str, country: &str) -> NewCustomer {
    NewCustomer {
        invoice: Contact {
            name: name.into(),
            company: format!("{name} BV"),
            email: format!("{}@example.test", name.to_lowercase()),
            phone: Some(phone.into()),
            country: country.into(),
            language: "en".into(),
            ..Contact::default()
        },
        deliveries: Vec::new(),
        tags: Vec::new(),
        custom: serde_json::Map::new(),
    }
}

pub fn campaign(name: &str, dialer: Value) -> Campaign {
    Campaign {
        id: new_id(),
        name: name.into(),
        description: String::new(),
        status: "running".into(),
        audience: json!({ "target": "invoice" }),
        schedule: json!({ "timezone": "Europe/Brussels" }),
        dialer,
        script_profile: String::new(),
        created_at: 1,
        updated_at: 1,
        version: 0,
        paused_reason: None,
    }
}

impl Rig {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).expect("ms");
        self.clock.0.fetch_add(by, Ordering::SeqCst);
    }

    /// Sends one carrier event for the call `call_id`, stamped now on the sim clock.
    pub async fn event(&self, call_id: &str, kind: &str, extra: Value) {
        let mut payload = json!({
            "call_control_id": format!("v2:{call_id}"),
            "client_state": agent5_e2e::fake_telnyx::client_state(call_id),
            "direction": "outgoing",
        });
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let body = envelope(&new_id(), kind, &carrier_time(self.now()), payload);
        let event = Event::parse(body.as_bytes()).expect("event");
        self.telephony.process(&event).await.expect("processed");
    }

    pub async fn answer_and_end(&self, call_id: &str, agent_reached: bool) {
        self.event(call_id, "call.answered", json!({})).await;
        if agent_reached {
            self.event(call_id, "streaming.started", json!({})).await;
        }
        self.event(
            call_id,
            "call.hangup",
            json!({ "hangup_cause": "normal_clearing" }),
        )
        .await;
    }

    pub async fn end_unanswered(&self, call_id: &str, cause: &str) {
        self.event(call_id, "call.initiated", json!({})).await;
        self.event(call_id, "call.hangup", json!({ "hangup_cause": cause }))
            .await;
    }

    /// The dials the carrier received so far: (call id, to).
    pub fn dials(&self) -> Vec<(String, String)> {
        self.fake
            .requests_to("/calls")
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| {
                let state = r.body["client_state"].as_str().unwrap_or_default();
                let id = decode_client_state(state)
                    .and_then(|s| s.strip_prefix("agent5:").map(str::to_owned))
                    .unwrap_or_default();
                (id, r.body["to"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    pub async fn attempts(&self, campaign_id: &str) -> Vec<CallAttempt> {
        self.store
            .campaign_attempts(campaign_id, false, 0, 10_000)
            .await
            .expect("attempts")
    }
}
