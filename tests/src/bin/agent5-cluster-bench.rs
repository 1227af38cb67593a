//! `agent5-cluster-bench PATH/TO/agent5 CALLS SECONDS [LISTEN_EVERY]`: three real
//! appliances on one store (MongoDB at `AGENT5_TEST_MONGO_URI` — run it under
//! `scripts/with-secantus.sh` — else one SQLite file), all on loopback, with a fake
//! carrier and a fake agent. Node B holds CALLS calls whose phones stream 20 ms PCMU
//! frames in real time for SECONDS; every LISTEN_EVERY-th call (default 10) gets two
//! `/monitor` listeners, one on B itself and one through node A (forwarded over the
//! internal hop). Node C only follows the cluster.
//!
//! Printed: the listen-in latency (p50/p99) local and forwarded — from the moment the
//! phone sends a loud frame (every 25th frame; the rest is silence) to the moment a
//! listener receives the caller's audio with it — and the CPU each appliance used over
//! the streaming window, C's before the calls and during them (the cost of following
//! B's calls: the change stream's fan-out, or polling on SQLite).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use agent5_e2e::client;
use agent5_e2e::fake_realtime::{FakeRealtime, Script};
use agent5_e2e::fake_telnyx::{FakeTelnyx, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{Appliance, Spec};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "cluster-bench-token-aaaaaaaa";
const API_KEY: &str = "KEYclusterBenchTelnyxKey";
const SECRET: &str = "cluster-bench-secret-0123456789abcdef";
/// Every this many frames the phone sends a loud one (500 ms apart).
const MARK_EVERY: u64 = 25;
/// A caller sample louder than this (PCM16) is a loud frame arriving.
const LOUD: i16 = 8000;
/// Clock ticks per second in /proc/<pid>/stat.
const USER_HZ: f64 = 100.0;

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Send times of each call's loud frames, in order.
type Marks = Arc<Mutex<Vec<u64>>>;

fn store_section(dir: &Path) -> String {
    match std::env::var("AGENT5_TEST_MONGO_URI") {
        Ok(uri) => format!(
            "[store]\nmongo_uri = \"{}\"\n",
            uri.replacen("/?", &format!("/bench_cluster_{}?", std::process::id()), 1)
        ),
        Err(_) => format!(
            "[store]\nsqlite_path = \"{}\"\n",
            dir.join("agent5.db").display()
        ),
    }
}

fn start(bin: &str, node: &str, store: &str, telnyx: &str, agent: &str) -> Appliance {
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         {store}[openai]\napi_key = \"sk-bench\"\nrealtime_url = \"{agent}\"\n\
         [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{telnyx}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\nmax_concurrent_calls = 1000\n\
         [log]\naccess_log = false\n[dialer]\nenabled = false\n\
         [rate_limit]\napi = {{ per_minute = 1000000, burst = 100000 }}\nwebsocket = {{ per_minute = 1000000, burst = 100000 }}\n\
         [cluster]\nnode = \"{node}\"\ninternal_listen = \"unix:internal.sock\"\nsecret = \"{SECRET}\"\n"
    );
    Appliance::start(Spec::new(bin, config))
}

/// Dials through `b`; the call id and its stream token.
async fn dial(b: &Path, telnyx: &FakeTelnyx, i: usize) -> (String, String) {
    let req = Request::post("/api/calls")
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(client::body(
            json!({"to": format!("+3247{i:07}")}).to_string(),
        ))
        .expect("request");
    let r = client::send(client::unix(b).await, req).await;
    assert_eq!(r.status.as_u16(), 201, "dial refused: {:?}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let token = telnyx.media_token(&id).await;
    (id, token)
}

/// The phone of one call: silence with a loud frame every [`MARK_EVERY`], in real
/// time, its marks answered, what it hears discarded.
async fn phone(sock: PathBuf, id: String, token: String, frames: u64, marks: Marks) {
    let stream = client::unix(&sock).await;
    let mut req = format!("ws://agent5.test/websocket?call={id}")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "x-telnyx-streaming-auth-token",
        HeaderValue::from_str(&token).expect("token"),
    );
    let (ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("media socket");
    let (mut tx, mut rx) = ws.split();
    let (mark_tx, mut mark_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = rx.next().await {
            if let Ok(v) = serde_json::from_str::<Value>(&t) {
                if v["event"] == "mark" {
                    let _ = mark_tx.send(v["mark"]["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    });
    let text = |v: Value| Message::text(v.to_string());
    let _ = tx
        .send(text(json!({"event": "connected", "version": "1.0.0"})))
        .await;
    let _ = tx
        .send(text(json!({"event": "start", "sequence_number": "1", "stream_id": "s",
            "start": {"call_control_id": id, "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}})))
        .await;
    let silence = STANDARD.encode([0xFFu8; 160]);
    let loud = STANDARD.encode([0x80u8; 160]);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for n in 0..frames {
        tick.tick().await;
        while let Ok(name) = mark_rx.try_recv() {
            let _ = tx
                .send(text(
                    json!({"event": "mark", "sequence_number": "0", "mark": {"name": name}}),
                ))
                .await;
        }
        let is_mark = n % MARK_EVERY == MARK_EVERY - 1;
        if is_mark {
            if let Ok(mut m) = marks.lock() {
                m.push(now_us());
            }
        }
        let frame = json!({"event": "media", "sequence_number": (n + 2).to_string(), "stream_id": "s",
            "media": {"track": "inbound", "chunk": (n + 1).to_string(), "timestamp": (n * 20).to_string(),
                "payload": if is_mark { &loud } else { &silence }}});
        if tx.send(text(frame)).await.is_err() {
            return;
        }
    }
    let _ = tx
        .send(text(
            json!({"event": "stop", "sequence_number": (frames + 2).to_string(), "stream_id": "s"}),
        ))
        .await;
    let _ = tx.close().await;
}

/// A `/monitor` listener on `sock`: the arrival time of each loud stretch of the
/// caller's track (16 kHz binary frames), in order.
async fn listener(sock: PathBuf, id: String) -> Vec<u64> {
    let stream = client::unix(&sock).await;
    let mut req = format!("ws://agent5.test/monitor?call={id}&rate=16000&binary=1")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("header"),
    );
    let Ok((mut ws, _)) = tokio_tungstenite::client_async(req, stream).await else {
        return Vec::new();
    };
    let mut arrivals = Vec::new();
    let mut loud = false;
    while let Some(Ok(m)) = ws.next().await {
        let Message::Binary(b) = m else { continue };
        if b.first() != Some(&0) {
            continue;
        }
        let peak = b[1..]
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs())
            .max()
            .unwrap_or(0);
        let now_loud = peak > LOUD.unsigned_abs();
        if now_loud && !loud {
            arrivals.push(now_us());
        }
        loud = now_loud;
    }
    arrivals
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize).saturating_sub(1);
    v[i.min(v.len() - 1)] as f64 / 1000.0
}

/// Latencies (µs) of each loud frame a listener caught: each arrival against the last
/// loud frame sent before it (they are 500 ms apart, far more than any latency).
fn latencies(sent: &[u64], heard: &[u64]) -> Vec<u64> {
    heard
        .iter()
        .filter_map(|h| {
            let before = sent.partition_point(|s| s <= h);
            before.checked_sub(1).map(|i| h - sent[i])
        })
        .collect()
}

/// Dials `calls` calls on B, streams them for `frames` frames with the listeners
/// attached, and returns the appliances' CPU (A, B, C) and the listen-in latencies
/// (local, forwarded) in µs.
async fn stream_calls(
    [a, b, c]: [&Appliance; 3],
    telnyx: &FakeTelnyx,
    calls: usize,
    frames: u64,
    every: usize,
) -> (Vec<f64>, Vec<u64>, Vec<u64>) {
    let (b_sock, a_sock) = (b.unix_socket("http"), a.unix_socket("http"));
    let mut dialled = Vec::new();
    for i in 0..calls {
        dialled.push(dial(&b_sock, telnyx, i).await);
    }
    let before = [
        agent5_e2e::proc_cpu_ticks(a.pid().unsigned_abs()),
        agent5_e2e::proc_cpu_ticks(b.pid().unsigned_abs()),
        agent5_e2e::proc_cpu_ticks(c.pid().unsigned_abs()),
    ];
    let started = Instant::now();
    let mut phones = Vec::new();
    let mut listened = Vec::new();
    for (i, (id, token)) in dialled.into_iter().enumerate() {
        let marks: Marks = Arc::default();
        phones.push(tokio::spawn(phone(
            b_sock.clone(),
            id.clone(),
            token,
            frames,
            Arc::clone(&marks),
        )));
        if i % every == 0 {
            listened.push((marks, id));
        }
    }
    // Listen-in needs the call's media stream open on B.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let listeners: Vec<_> = listened
        .into_iter()
        .map(|(marks, id)| {
            let local = tokio::spawn(listener(b_sock.clone(), id.clone()));
            let forwarded = tokio::spawn(listener(a_sock.clone(), id));
            (marks, local, forwarded)
        })
        .collect();
    for p in phones {
        let _ = p.await;
    }
    let window = started.elapsed().as_secs_f64();
    let after = [
        agent5_e2e::proc_cpu_ticks(a.pid().unsigned_abs()),
        agent5_e2e::proc_cpu_ticks(b.pid().unsigned_abs()),
        agent5_e2e::proc_cpu_ticks(c.pid().unsigned_abs()),
    ];
    let cpu: Vec<f64> = before
        .iter()
        .zip(after)
        .map(|(b, a)| (a - b) as f64 / USER_HZ / window * 100.0)
        .collect();
    let (mut local, mut forwarded) = (Vec::new(), Vec::new());
    for (marks, l, f) in listeners {
        let (l, f) = (l.await.unwrap_or_default(), f.await.unwrap_or_default());
        let sent = marks.lock().map(|m| m.clone()).unwrap_or_default();
        local.extend(latencies(&sent, &l));
        forwarded.extend(latencies(&sent, &f));
    }
    (cpu, local, forwarded)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bin), Some(calls), Some(seconds)) = (
        args.get(1),
        args.get(2).and_then(|c| c.parse::<usize>().ok()),
        args.get(3).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: agent5-cluster-bench PATH/TO/agent5 CALLS SECONDS [LISTEN_EVERY]");
        std::process::exit(2);
    };
    let every = args
        .get(4)
        .and_then(|e| e.parse::<usize>().ok())
        .unwrap_or(10)
        .max(1);
    EPOCH.get_or_init(Instant::now);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let telnyx = rt.block_on(FakeTelnyx::start(API_KEY));
    let agent = rt.block_on(FakeRealtime::start(Script::default()));
    let dir = tempfile::tempdir().expect("tmp");
    let store = store_section(dir.path());
    let backend = if store.contains("mongo_uri") {
        "mongodb"
    } else {
        "sqlite"
    };
    let a = start(bin, "node-a", &store, &telnyx.url, &agent.url);
    let b = start(bin, "node-b", &store, &telnyx.url, &agent.url);
    let c = start(bin, "node-c", &store, &telnyx.url, &agent.url);
    let idle_window = Duration::from_secs(5);
    let c0 = agent5_e2e::proc_cpu_ticks(c.pid().unsigned_abs());
    std::thread::sleep(idle_window);
    let c_idle = (agent5_e2e::proc_cpu_ticks(c.pid().unsigned_abs()) - c0) as f64
        / USER_HZ
        / idle_window.as_secs_f64()
        * 100.0;

    let frames = seconds * 50;
    let (cpu, mut local, mut forwarded) =
        rt.block_on(stream_calls([&a, &b, &c], &telnyx, calls, frames, every));
    let marks_per_listener = frames / MARK_EVERY;
    println!(
        "store={backend} calls={calls} seconds={seconds} listened_calls={} marks_per_listener={marks_per_listener} \
         local_listen p50={:.2}ms p99={:.2}ms n={} forwarded_listen p50={:.2}ms p99={:.2}ms n={} \
         cpu_a={:.0}% cpu_b={:.0}% cpu_c_idle={c_idle:.1}% cpu_c_during={:.1}%",
        calls.div_ceil(every),
        pct(&mut local, 0.5),
        pct(&mut local, 0.99),
        local.len(),
        pct(&mut forwarded, 0.5),
        pct(&mut forwarded, 0.99),
        forwarded.len(),
        cpu[0],
        cpu[1],
        cpu[2],
    );
    drop((a, b, c));
}
