//! `agent5-dialer-bench [CONTACTS] [SECONDS] [--db PATH]`: the campaign dialler over a
//! large audience on SQLite, in process, against the fake carrier on loopback. Prints:
//! the time to seed the customers; from a campaign's start to its first carrier dial;
//! how fast its dial list fills and how many dials per second it places (at its
//! calls-per-second cap); the gate's decisions per second (a campaign whose window is
//! closed now, so every due contact is a full gate evaluation ending in a skip); and
//! the process's peak RSS.
//!
//! With `--db PATH` the database is kept, with a running campaign ("alongside", 5 calls
//! per second, at most 20 at once, open all day) for `AGENT5_LOAD_DB=PATH agent5-load`:
//! the live calls' latency while the dialler plans and dials beside them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent5_api::calls::{Telephony, TelnyxSettings};
use agent5_api::dialer::{Dialer, DialerMetrics, DialerSettings, SystemNow};
use agent5_api::metrics::ApiMetrics;
use agent5_api::model::{new_id, now_millis, Campaign, Contact, NewCustomer};
use agent5_api::store::{SharedStore, StoreConfig};
use agent5_e2e::fake_telnyx::FakeTelnyx;
use serde_json::{json, Value};

const BATCH: usize = 5000;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let contacts: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let db = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(contacts, seconds, db));
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn customer(i: usize) -> NewCustomer {
    NewCustomer {
        invoice: Contact {
            name: format!("Contact {i}"),
            company: format!("Company {}", i % 5000),
            email: format!("c{i}@example.test"),
            phone: Some(format!("+3247{:07}", i % 10_000_000)),
            country: "BE".into(),
            language: ["nl", "fr", "en"][i % 3].into(),
            ..Contact::default()
        },
        deliveries: Vec::new(),
        tags: Vec::new(),
        custom: serde_json::Map::new(),
    }
}

fn campaign(name: &str, windows: Value, dialer: Value) -> Campaign {
    Campaign {
        id: new_id(),
        name: name.into(),
        description: String::new(),
        status: "running".into(),
        audience: json!({ "target": "invoice" }),
        schedule: json!({ "windows": windows, "allow_outside_legal_hours": true }),
        dialer,
        script_profile: String::new(),
        created_at: now_millis(),
        updated_at: now_millis(),
        version: 0,
        paused_reason: None,
    }
}

async fn seed(store: &SharedStore, contacts: usize) {
    let started = Instant::now();
    let mut next = 0;
    while next < contacts {
        let end = (next + BATCH).min(contacts);
        store
            .upsert_customers((next..end).map(customer).collect())
            .await
            .expect("seed");
        next = end;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {contacts} customers in {secs:.1}s ({:.0}/s)",
        contacts as f64 / secs
    );
}

fn dialer(store: &SharedStore, fake: &FakeTelnyx, metrics: DialerMetrics) -> Arc<Dialer> {
    let telephony = Arc::new(
        Telephony::new(
            Arc::clone(store),
            TelnyxSettings {
                api_base: fake.url.clone(),
                api_key: Some("KEYbench".into()),
                connection_id: Some("c".into()),
                from_number: Some("+3225550000".into()),
                stream_url: Some("ws://agent5.bench/websocket".into()),
                verify_signatures: false,
                max_concurrent_calls: 10_000,
                ..TelnyxSettings::default()
            },
            ApiMetrics::new(),
        )
        .expect("telephony"),
    );
    Arc::new(Dialer::new(
        Arc::clone(store),
        telephony,
        Arc::new(SystemNow),
        DialerSettings {
            node: "bench".into(),
            inbound_reserve: 0,
            ..DialerSettings::default()
        },
        metrics,
    ))
}

/// Dials per second at the cap, and how fast the dial list fills.
async fn first_dial_and_pace(store: &SharedStore, fake: &FakeTelnyx, seconds: u64) {
    let c = store
        .create_campaign(campaign(
            "first dial",
            json!([{ "days": DAYS, "start": "00:00", "end": "24:00" }]),
            json!({ "calls_per_second": 50.0, "max_concurrent": 500 }),
        ))
        .await
        .expect("campaign");
    let d = dialer(store, fake, DialerMetrics::new());
    let started = Instant::now();
    let task = tokio::spawn(Arc::clone(&d).run_forever());
    fake.wait_for(1, |r| r.method == "POST" && r.path == "/v2/calls")
        .await;
    println!(
        "time from start to first dial: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let secs = started.elapsed().as_secs_f64();
    let counts = store.dial_entry_counts(&c.id).await.expect("counts");
    let listed = counts.waiting + counts.dialing + counts.done;
    let dials = fake.requests_to("/calls").len();
    println!(
        "in {secs:.1}s: {listed} contacts listed ({:.0}/s), {dials} dials ({:.1}/s; cap 50/s, at most 500 open)",
        listed as f64 / secs,
        dials as f64 / secs
    );
    task.abort();
    let mut stopped = store.get_campaign(&c.id).await.expect("campaign");
    stopped.status = "stopped".into();
    store.update_campaign(stopped).await.expect("stop");
}

/// Gate evaluations per second: every due contact of a campaign closed now is read
/// afresh (campaign, DNC, customer, audience, attempts, cooldown, zones, window) and
/// skipped until its window opens.
async fn decisions(store: &SharedStore, fake: &FakeTelnyx, seconds: u64) {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Brussels").expect("zone"))
        .weekday()
        .to_monday_zero_offset();
    let tomorrow = DAYS[(usize::from(today.unsigned_abs()) + 1) % 7];
    store
        .create_campaign(campaign(
            "decisions",
            json!([{ "days": [tomorrow], "start": "00:00", "end": "24:00" }]),
            json!({ "calls_per_second": 50.0, "max_concurrent": 500 }),
        ))
        .await
        .expect("campaign");
    let metrics = DialerMetrics::new();
    let d = dialer(store, fake, metrics.clone());
    let task = tokio::spawn(Arc::clone(&d).run_forever());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let skipped = metrics.skips.with_label_values(&["outside_window"]).get();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "gate decisions: {skipped} in {secs:.1}s ({:.0}/s, each a full evaluation and a write; the fill of the list runs in the same ticks)",
        skipped as f64 / secs
    );
    task.abort();
}

/// Ends the calls the in-process phases placed (the fake carrier sends no webhooks),
/// as the carrier's hang-ups would, so the kept database starts with no live call.
async fn end_calls(store: &SharedStore, fake: &FakeTelnyx) {
    let telephony = Telephony::new(
        Arc::clone(store),
        TelnyxSettings::default(),
        ApiMetrics::new(),
    )
    .expect("telephony");
    let now = now_millis();
    let mut ended = 0;
    for r in fake.requests_to("/calls") {
        let Some(id) = r.body["stream_url"]
            .as_str()
            .and_then(|u| u.rsplit_once("call="))
            .map(|(_, id)| id.to_owned())
        else {
            continue;
        };
        let done = telephony
            .update(&id, |c| {
                c.ended_at.get_or_insert(now);
                c.hangup_cause
                    .get_or_insert_with(|| "normal_clearing".into());
                agent5_api::calls::state::refresh(c);
            })
            .await;
        if done.is_ok() {
            ended += 1;
        }
    }
    println!("ended the {ended} calls the carrier never hung up");
}

async fn run(contacts: usize, seconds: u64, db: Option<String>) {
    let dir = tempfile::tempdir().expect("dir");
    let path = db
        .clone()
        .map_or_else(|| dir.path().join("bench.db"), Into::into);
    println!(
        "machine: {} cores, {}; SQLite at {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find_map(|l| l
                .strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())))
            .unwrap_or_default(),
        path.display()
    );
    let store = agent5_api::store::open(&StoreConfig::Sqlite { path: path.clone() })
        .await
        .expect("store");
    seed(&store, contacts).await;
    let fake = FakeTelnyx::start("KEYbench").await;
    fake.set_id_prefix("bench");
    first_dial_and_pace(&store, &fake, seconds).await;
    decisions(&store, &fake, seconds).await;
    println!("peak RSS: {:.0} MB", peak_rss_mb());
    if db.is_some() {
        end_calls(&store, &fake).await;
        // One dialler pass settles the ended calls' attempts of the stopped campaigns.
        dialer(&store, &fake, DialerMetrics::new())
            .tick()
            .await
            .expect("tick");
        for mut c in store.list_campaigns().await.expect("campaigns") {
            c.status = "stopped".into();
            store.update_campaign(c).await.expect("stop");
        }
        store
            .create_campaign(campaign(
                "alongside",
                json!([{ "days": DAYS, "start": "00:00", "end": "24:00" }]),
                json!({ "calls_per_second": 5.0, "max_concurrent": 20 }),
            ))
            .await
            .expect("campaign");
        println!(
            "kept {} with a running campaign for AGENT5_LOAD_DB",
            path.display()
        );
    }
}
