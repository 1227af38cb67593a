//! `agent5-load PATH/TO/agent5 CALLS SECONDS [listen|listen16|listen8|soak]`: N concurrent simulated calls through a
//! real appliance, all on loopback. The tool starts a fake Telnyx REST API, an echo
//! agent (every caller frame comes straight back as agent audio) and the appliance
//! itself, dials N calls, streams 20 ms PCMU frames on each in real time for the given
//! seconds (answering each mark with its next frame), and prints the added latency per
//! direction (p50/p99), frames lost, the appliance's CPU and RSS, the tool's own CPU,
//! and the recording bytes written. The CPU figures cover the whole run (ramp and
//! hang-ups included); the `steady_` ones only the window in which every call streams
//! (from the last phone's first frame to the first phone's last), what the machine
//! carries at that many calls.
//!
//! `soak`: for SECONDS, CALLS call slots each place one 60 s call after another (every
//! fourth with a `/monitor` listener; each ends with a signed `call.hangup` webhook), while one of
//! twenty 500-row CSVs is uploaded every 10 s and a
//! signed Telnyx webhook is delivered every 100 ms; the appliance's RSS and open files
//! are sampled every 10 s, and the run fails (exit 1) if either peaked after the first
//! fifth of the run (the warm-up) more than 20% + 16 MB, or 32 files, above its value then.
//!
//! `AGENT5_LOAD_IMPORT=ROWS`: once every call streams, one CSV of ROWS prospects is
//! uploaded through the API (`import_rows`, `import_secs` in the output), so the
//! `steady_` figures show what an operator's import does to the live calls.
//!
//! `AGENT5_LOAD_DB=path`: the appliance runs on that SQLite database (made by
//! `agent5-dialer-bench --db`, with a running campaign), so its dialler plans and dials
//! beside the calls: the fake carrier lets each of its dials ring for a second and
//! reports it unanswered (`call.initiated`, then `call.hangup` with `timeout`, signed),
//! which frees its place for the next. `AGENT5_LOAD_DIALER=off` runs the same database
//! with the dialler disabled (the comparison that isolates the dialler's cost).
//!
//! The fake carrier (its REST API, and the ringing of the dialler's calls) runs on a
//! thread of its own, apart from the phones, the agent and the clocks that measure
//! them.
//!
//! Every socket of the tool (phones, the echo agent, listeners) runs on the appliance's
//! own WebSocket framing (`agent5_bridge::ws`) after a tungstenite handshake: the tool
//! shares the appliance's cores, and tungstenite's per-read costs were 5-7 points of a
//! core at 300-500 calls. Interoperability with tungstenite is what the e2e tests check.
//!
//! Latency is carried in the audio: bytes 0..8 of each caller frame hold its send time
//! (ns since the tool's epoch); the echo agent stamps bytes 8..16 when it sends the echo.
//! Caller->agent = agent receipt - send; agent->caller = phone receipt - echo send.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent5_bridge::ws::WsStream;
use agent5_e2e::fake_telnyx::FakeTelnyx;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

mod measure;
mod soak;
mod upload;

use measure::{cpu_since, now_ns, pct, proc_status_kb, steady_window, us, Stats, Steady, EPOCH};

/// The longest message the tool's sockets take (a listener's is ~19 KB).
const MAX_MESSAGE: usize = 1 << 20;

/// What the echo agent reads: each event's type and, in an append, its audio. Borrowed
/// from the message (neither field is ever escaped); anything else is skipped.
#[derive(serde::Deserialize)]
struct ToAgent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    audio: Option<&'a str>,
}

/// What the fake phone reads: media (its payload) and marks (their name, to answer).
#[derive(serde::Deserialize)]
struct ToPhone<'a> {
    event: &'a str,
    #[serde(default, borrow)]
    media: Option<PhoneMedia<'a>>,
    #[serde(default, borrow)]
    mark: Option<PhoneMark<'a>>,
}

#[derive(serde::Deserialize)]
struct PhoneMedia<'a> {
    payload: &'a str,
}

#[derive(serde::Deserialize)]
struct PhoneMark<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
}

/// Decoded audio is at most this long (a 20 ms PCMU frame is 160 bytes).
const MAX_FRAME: usize = 1024;

/// The echo agent: answers session.update, echoes every append as agent audio. Its JSON
/// is read into borrowed fields and written with `write!`, the audio decoded into a
/// buffer of the connection's: what a real service does per frame is not the
/// appliance's cost, and the tool shares the appliance's cores.
async fn echo_agent(listener: TcpListener, stats: Arc<Stats>) {
    while let Ok((stream, _)) = listener.accept().await {
        // Like a real service: no Nagle on a socket carrying 20 ms audio chunks.
        let _ = stream.set_nodelay(true);
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let Ok(mut ws) = agent5_bridge::ws::accept(stream, MAX_MESSAGE).await else {
                return;
            };
            let mut item = 0u64;
            let mut audio = [0u8; MAX_FRAME];
            while let Some(Ok(Message::Text(text))) = ws.next().await {
                let Ok(event) = serde_json::from_str::<ToAgent>(&text) else {
                    continue;
                };
                match event.kind {
                    "session.update" => {
                        let _ = ws
                            .send(Message::text(r#"{"type":"session.updated","session":{}}"#))
                            .await;
                    }
                    "input_audio_buffer.append" => {
                        let Some(Ok(len)) =
                            event.audio.map(|a| STANDARD.decode_slice(a, &mut audio))
                        else {
                            continue;
                        };
                        if len < 16 {
                            continue;
                        }
                        let audio = &mut audio[..len];
                        let sent = u64::from_le_bytes(audio[0..8].try_into().unwrap_or([0; 8]));
                        let t = now_ns();
                        stats.got_in.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = stats.inbound_us.lock() {
                            l.push((sent, us(t.saturating_sub(sent))));
                        }
                        audio[8..16].copy_from_slice(&now_ns().to_le_bytes());
                        item += 1;
                        // One item per 50 frames, like sentences of a reply.
                        let mut delta = String::with_capacity(200 + len * 4 / 3);
                        let _ = write!(
                            delta,
                            r#"{{"type":"response.output_audio.delta","response_id":"r","item_id":"echo-{}","output_index":0,"content_index":0,"delta":""#,
                            item / 50
                        );
                        STANDARD.encode_string(&*audio, &mut delta);
                        delta.push_str(r#""}"#);
                        stats.sent_out.fetch_add(1, Ordering::Relaxed);
                        if ws.send(Message::text(delta)).await.is_err() {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

async fn http(addr: std::net::SocketAddr, req: hyper::Request<Full<Bytes>>) -> Option<Value> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    let res = sender.send_request(req).await.ok()?;
    let body = res.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// A listener on `/monitor` for one call, counting what it hears. The listener starts
/// with the phone's socket, possibly before the appliance has registered the call: it
/// tries again while the answer is `unknown_call` (up to 5 s).
async fn listen(addr: std::net::SocketAddr, id: String, rate: u32, stats: Arc<Stats>) {
    for _ in 0..100 {
        match listen_once(addr, &id, rate, &stats).await {
            Some(reason) if reason == "unknown_call" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(reason) if reason != "call_ended" => {
                stats.listeners_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => return,
        }
    }
    stats.listeners_dropped.fetch_add(1, Ordering::Relaxed);
}

/// One `/monitor` connection until it closes: the close reason.
async fn listen_once(
    addr: std::net::SocketAddr,
    id: &str,
    rate: u32,
    stats: &Stats,
) -> Option<String> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let mut request = format!("ws://agent5.load/monitor?call={id}&rate={rate}&binary=1")
        .into_client_request()
        .ok()?;
    if let Ok(v) = HeaderValue::from_str("Bearer load-token-aaaaaaaaaaaa") {
        request.headers_mut().insert("authorization", v);
    }
    let (mut ws, _) = agent5_bridge::ws::client(request, stream, MAX_MESSAGE)
        .await
        .ok()?;
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Binary(b) => {
                stats.listened.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Message::Close(frame) => {
                return Some(frame.map(|f| f.reason.to_string()).unwrap_or_default())
            }
            _ => {}
        }
    }
    None
}

/// One message from the appliance to the fake phone: an agent echo (its latency from
/// the timestamp inside the payload) or a mark, kept to be answered with the next frame.
fn phone_heard(text: &str, stats: &Stats, marks: &mut Vec<String>) {
    let Ok(msg) = serde_json::from_str::<ToPhone>(text) else {
        return;
    };
    match (msg.event, msg.media, msg.mark) {
        ("media", Some(media), _) => {
            let t = now_ns();
            let mut audio = [0u8; MAX_FRAME];
            if let Ok(16..) = STANDARD.decode_slice(media.payload, &mut audio) {
                let sent = u64::from_le_bytes(audio[8..16].try_into().unwrap_or([0; 8]));
                stats.got_out.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut l) = stats.outbound_us.lock() {
                    l.push((sent, us(t.saturating_sub(sent))));
                }
            }
        }
        ("mark", _, Some(mark)) => marks.push(mark.name.into_owned()),
        _ => {}
    }
}

/// The phone reads until its socket ends: echoes counted, marks no longer answered.
async fn hear(ws: &mut WsStream<TcpStream>, stats: &Stats) {
    let mut marks = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(text) = m {
            phone_heard(&text, stats, &mut marks);
        }
    }
}

/// A phone's frame interval.
const FRAME: Duration = Duration::from_millis(20);

/// The phones start their frames in this many phases of [`FRAME`] (1 ms apart).
const PHASES: u64 = 20;

/// When phone `i` sends its first frame: on the next 20 ms boundary of the tool's clock,
/// `i mod PHASES` ms past it. Real callers' clocks are independent, so their frames spread
/// over each 20 ms; started in the ramp's steps alone, the calls would tick in as few
/// phases as the step divides 20 ms (five for 4 ms) and send in bunches.
fn first_tick(i: usize) -> tokio::time::Instant {
    let frame_ns = FRAME.as_nanos() as u64;
    let epoch = *EPOCH.get_or_init(Instant::now);
    let next = (now_ns() / frame_ns + 1) * frame_ns + (i as u64 % PHASES) * (frame_ns / PHASES);
    tokio::time::Instant::from_std(epoch + Duration::from_nanos(next))
}

/// The fake phone on its media socket for `seconds`, then its hang-up. One task per
/// phone, like one media loop per stream: every 20 ms it answers the marks heard since
/// the last tick and sends the next frame, in one write; between ticks it reads the
/// appliance's echoes and marks.
async fn phone(
    mut ws: WsStream<TcpStream>,
    i: usize,
    call_control_id: Value,
    seconds: u64,
    stats: &Stats,
) -> Result<(), String> {
    let err = |e: tokio_tungstenite::tungstenite::Error| e.to_string();
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(json!({"event": "connected", "version": "1.0.0"})))
        .await
        .map_err(err)?;
    ws.send(send(json!({"event": "start", "sequence_number": "1", "stream_id": "s",
        "start": {"call_control_id": call_control_id, "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}})))
        .await
        .map_err(err)?;
    let frames = seconds * 50;
    let mut tick = tokio::time::interval_at(first_tick(i), FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut payload = [0xFFu8; 160];
    let mut marks: Vec<String> = Vec::new();
    let mut n = 0;
    while n < frames {
        tokio::select! {
            _ = tick.tick() => {
                for name in marks.drain(..) {
                    let name = serde_json::to_string(&name).unwrap_or_default();
                    ws.feed(Message::text(format!(
                        r#"{{"event":"mark","sequence_number":"0","mark":{{"name":{name}}}}}"#
                    )))
                    .await
                    .map_err(err)?;
                }
                let sent = now_ns();
                payload[0..8].copy_from_slice(&sent.to_le_bytes());
                let mut frame = String::with_capacity(400);
                let _ = write!(
                    frame,
                    r#"{{"event":"media","sequence_number":"{}","stream_id":"s","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":""#,
                    n + 2,
                    n + 1,
                    n * 20
                );
                STANDARD.encode_string(payload, &mut frame);
                frame.push_str(r#""}}"#);
                stats.sent_in.fetch_add(1, Ordering::Relaxed);
                ws.send(Message::text(frame)).await.map_err(err)?;
                n += 1;
                if n == 1 {
                    stats.first_frame_sent(sent);
                }
                if n == frames {
                    stats.last_frame_sent(sent);
                }
            }
            heard = ws.next() => match heard {
                Some(Ok(Message::Text(text))) => phone_heard(&text, stats, &mut marks),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the appliance closed the phone's socket".into()),
            }
        }
    }
    // Let the last echoes arrive, then hang up and read until the appliance closes.
    let _ = tokio::time::timeout(Duration::from_millis(500), hear(&mut ws, stats)).await;
    let _ = ws
        .send(send(
            json!({"event": "stop", "sequence_number": (frames + 2).to_string(), "stream_id": "s"}),
        ))
        .await;
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), hear(&mut ws, stats)).await;
    Ok(())
}

async fn one_call(
    i: usize,
    addr: std::net::SocketAddr,
    telnyx: FakeTelnyx,
    seconds: u64,
    stats: Arc<Stats>,
    listener_rate: Option<u32>,
) -> Result<String, String> {
    if floor_mode() {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let url = format!("ws://agent5.load/websocket?call=floor-{i}");
        let (ws, _) = agent5_bridge::ws::client(url, stream, MAX_MESSAGE)
            .await
            .map_err(|e| e.to_string())?;
        phone(ws, i, json!(format!("floor-{i}")), seconds, &stats).await?;
        return Ok(String::new());
    }
    let req = hyper::Request::post("/api/calls")
        .header("host", "agent5.load")
        .header("authorization", "Bearer load-token-aaaaaaaaaaaa")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            json!({"to": format!("+3247{:07}", i % 10_000_000)}).to_string(),
        )))
        .map_err(|e| e.to_string())?;
    let call = http(addr, req).await.ok_or("dial request failed")?;
    let id = call["id"]
        .as_str()
        .ok_or_else(|| format!("dial refused: {call}"))?
        .to_owned();
    let dial = telnyx
        .wait_for(1, |r| {
            r.body["stream_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(&id))
        })
        .await
        .remove(0);
    let token = dial.body["stream_auth_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut request = format!("ws://agent5.load/websocket?call={id}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "x-telnyx-streaming-auth-token",
        HeaderValue::from_str(&token).map_err(|e| e.to_string())?,
    );
    let (ws, _) = agent5_bridge::ws::client(request, stream, MAX_MESSAGE)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(rate) = listener_rate {
        tokio::spawn(listen(addr, id.clone(), rate, Arc::clone(&stats)));
    }
    phone(ws, i, dial.body["to"].clone(), seconds, &stats).await?;
    Ok(call["call_control_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Delivers a signed webhook as Telnyx would; whether it was accepted.
async fn webhook(addr: std::net::SocketAddr, id: &str, kind: &str, payload: Value) -> bool {
    let signer = agent5_e2e::fake_telnyx::WebhookSigner::test_key();
    let now = agent5_e2e::fake_telnyx::now_millis();
    let body = agent5_e2e::fake_telnyx::envelope(
        id,
        kind,
        &agent5_e2e::fake_telnyx::carrier_time(now),
        payload,
    );
    let ts = agent5_e2e::fake_telnyx::now_unix();
    let Ok(req) = hyper::Request::post("/api/telnyx/events")
        .header("host", "agent5.load")
        .header("content-type", "application/json")
        .header("telnyx-timestamp", ts.to_string())
        .header("telnyx-signature-ed25519", signer.sign(ts, &body))
        .body(Full::new(Bytes::from(body)))
    else {
        return false;
    };
    http(addr, req)
        .await
        .is_some_and(|r| r["status"] == "accepted")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: agent5-load PATH/TO/agent5 CALLS SECONDS");
        std::process::exit(2);
    }
    let bin = args[1].clone();
    let calls: usize = args[2].parse().unwrap_or(10);
    let seconds: u64 = args[3].parse().unwrap_or(10);
    // `listen` (48 kHz), `listen16` (16 kHz) or `listen8` (the call's own 8 kHz, as the
    // console asks): one /monitor listener per call.
    let listener_rate = match args.get(4).map(String::as_str) {
        Some("listen") => Some(48_000),
        Some("listen16") => Some(16_000),
        Some("listen8") => Some(8_000),
        _ => None,
    };
    let soak = args.get(4).map(String::as_str) == Some("soak");
    let _ = EPOCH.get_or_init(Instant::now);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if soak {
        let ok = rt.block_on(soak::run_soak(bin, calls, seconds));
        std::process::exit(i32::from(!ok));
    }
    let carrier = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fake-carrier")
        .enable_all()
        .build()
        .expect("carrier runtime");
    rt.block_on(run(
        bin,
        calls,
        seconds,
        listener_rate,
        carrier.handle().clone(),
    ));
}

/// The appliance under load: its process, address and working directory.
struct Running {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    work: tempfile::TempDir,
}

async fn start_appliance(
    bin: &str,
    telnyx: &FakeTelnyx,
    agent_addr: std::net::SocketAddr,
    calls: usize,
) -> Running {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let work = tempfile::tempdir().expect("tmp");
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\n{}\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"load-token-aaaaaaaaaaaa\"]\n\
         [log]\naccess_log = false\n\
         [rate_limit]\napi = {{ per_minute = 1000000, burst = 100000 }}\nwebsocket = {{ per_minute = 1000000, burst = 100000 }}\nwebhook = {{ per_minute = 1000000, burst = 100000 }}\n\
         [openai]\napi_key = \"sk-load\"\nrealtime_url = \"ws://{agent_addr}/v1/realtime?model=gpt-realtime\"\n\
         [telnyx]\napi_key = \"KEYload\"\napi_base = \"{}\"\nconnection_id = \"c\"\nphone_number = \"+3225550000\"\n\
         public_key_pem = \"{}\"\nstream_url = \"ws://agent5.load/websocket\"\nmax_concurrent_calls = {}\n",
        // `AGENT5_LOAD_SERVER`: more `[server]` settings, e.g. `work_stealing = true`.
        std::env::var("AGENT5_LOAD_SERVER").unwrap_or_default(),
        telnyx.url,
        agent5_e2e::fake_telnyx::TEST_PUBLIC_KEY_B64,
        calls + 10
    );
    // `AGENT5_LOAD_DB`: an existing SQLite database (with a running campaign, made by
    // agent5-dialer-bench) so the dialler plans and dials beside the calls.
    let config = match std::env::var("AGENT5_LOAD_DB") {
        Ok(db) => format!("{config}[store]\nsqlite_path = \"{db}\"\n"),
        Err(_) => config,
    };
    let config = if std::env::var("AGENT5_LOAD_DIALER").is_ok_and(|v| v == "off") {
        format!("{config}[dialer]\nenabled = false\n")
    } else {
        config
    };
    let config_path = work.path().join("agent5.toml");
    std::fs::write(&config_path, config).expect("config");
    let child = std::process::Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start agent5");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut up = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "agent5 did not start");
    Running { child, addr, work }
}

/// `AGENT5_LOAD_FLOOR=1`: BIN is `agent5-floor`, the least a bridge can do per frame;
/// the same phones and agent run against it, without dialling (it has no API).
fn floor_mode() -> bool {
    std::env::var("AGENT5_LOAD_FLOOR").is_ok_and(|v| v == "1")
}

/// Starts `agent5-floor` towards the echo agent; its address from its first line.
fn start_floor(bin: &str, agent_addr: std::net::SocketAddr) -> Running {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(bin)
        .arg(format!("ws://{agent_addr}/v1/realtime"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start agent5-floor");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("floor stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("floor address");
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .expect("agent5-floor prints `listening ADDR`");
    Running {
        child,
        addr,
        work: tempfile::tempdir().expect("tmp"),
    }
}

async fn run(
    bin: String,
    calls: usize,
    seconds: u64,
    listener_rate: Option<u32>,
    carrier: tokio::runtime::Handle,
) {
    let stats = Arc::new(Stats::default());
    // The fake carrier (its API, and the dialler's calls it rings out) runs on its own
    // thread: the phones' and the agent's timestamps must not queue behind it (a real
    // carrier is not on this machine at all).
    let telnyx = carrier
        .spawn(FakeTelnyx::start("KEYload"))
        .await
        .expect("fake carrier");
    let agent_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind agent");
    let agent_addr = agent_listener.local_addr().expect("addr");
    tokio::spawn(echo_agent(agent_listener, Arc::clone(&stats)));
    let mut app = if floor_mode() {
        start_floor(&bin, agent_addr)
    } else {
        start_appliance(&bin, &telnyx, agent_addr, calls).await
    };
    let (pid, addr) = (app.child.id(), app.addr);
    let cpu0 = agent5_e2e::proc_cpu_split(pid);
    let steady = tokio::spawn(steady_window(pid, calls as u64, Arc::clone(&stats)));
    let tool_cpu0 = agent5_e2e::proc_cpu_ticks(std::process::id());
    let started = Instant::now();
    let dialler_dials = Arc::new(AtomicU64::new(0));
    if std::env::var("AGENT5_LOAD_DB").is_ok() {
        let until = started + Duration::from_secs(seconds + 2);
        carrier.spawn(ring_out_dialler_calls(
            addr,
            telnyx.clone(),
            calls,
            until,
            Arc::clone(&dialler_dials),
        ));
    }
    let import = upload::rows_beside().map(|rows| {
        tokio::spawn(upload::import_beside(
            addr,
            calls as u64,
            rows,
            Arc::clone(&stats),
        ))
    });
    let mut tasks = Vec::new();
    for i in 0..calls {
        let (telnyx, stats) = (telnyx.clone(), Arc::clone(&stats));
        tasks.push(tokio::spawn(async move {
            one_call(i, addr, telnyx, seconds, stats, listener_rate).await
        }));
        // Ramp up: calls do not all start in the same 20 ms.
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("call failed: {e}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("call task failed: {e}");
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu, user) = cpu_since(pid, cpu0);
    let tool_cpu = (agent5_e2e::proc_cpu_ticks(std::process::id()) - tool_cpu0) as f64 / 100.0;
    let hwm_mb = proc_status_kb(pid, "VmHWM:") as f64 / 1024.0;
    let steady = Steady::taken(steady).await;
    let import = upload::describe(import).await;
    // Recordings are finished when the calls end; give the writers a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rec_bytes = bytes_in(&app.work.path().join("data/recordings"));
    let _ = app.child.kill();
    let _ = app.child.wait();
    let (mut inbound, mut outbound) = (
        Stats::latencies(&stats.inbound_us),
        Stats::latencies(&stats.outbound_us),
    );
    let steady = Steady::describe(steady.as_ref(), &stats, calls);
    let (si, gi, so, go) = (
        stats.sent_in.load(Ordering::Relaxed),
        stats.got_in.load(Ordering::Relaxed),
        stats.sent_out.load(Ordering::Relaxed),
        stats.got_out.load(Ordering::Relaxed),
    );
    println!(
        "calls={calls} listeners={} listener_rate={} failed={failed} seconds={seconds} wall={wall:.1}s caller->agent p50={:.2}ms p99={:.2}ms lost={} agent->caller p50={:.2}ms p99={:.2}ms lost={} appliance_cpu={:.0}% appliance_user={:.0}% tool_cpu={:.0}% peak_rss={hwm_mb:.0}MB recording_bytes={rec_bytes} listened_bytes={} listeners_dropped={} dialler_dials={} {steady}{import}",
        if listener_rate.is_some() { calls } else { 0 },
        listener_rate.unwrap_or(0),
        pct(&mut inbound, 0.5),
        pct(&mut inbound, 0.99),
        si.saturating_sub(gi),
        pct(&mut outbound, 0.5),
        pct(&mut outbound, 0.99),
        so.saturating_sub(go),
        cpu / wall * 100.0,
        user / wall * 100.0,
        tool_cpu / wall * 100.0,
        stats.listened.load(Ordering::Relaxed),
        stats.listeners_dropped.load(Ordering::Relaxed),
        dialler_dials.load(Ordering::Relaxed),
    );
}

/// The bytes of the files in `dir` (the recordings).
fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The carrier's side of the dialler's calls (with `AGENT5_LOAD_DB`): every dial that
/// is not one of the tool's own calls (numbers below `calls`) rings for a second and is
/// reported unanswered, with the attempt's `client_state`, so the dialler keeps dialling
/// at its pace for the whole run; counts the dials.
async fn ring_out_dialler_calls(
    addr: std::net::SocketAddr,
    telnyx: FakeTelnyx,
    calls: usize,
    until: Instant,
    dials: Arc<AtomicU64>,
) {
    let own: std::collections::HashSet<String> =
        (0..calls).map(|i| format!("+3247{i:07}")).collect();
    let mut seen = 0;
    while Instant::now() < until {
        let arrived = telnyx.requests_since(seen);
        seen += arrived.len();
        for r in arrived
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v2/calls")
        {
            let to = r.body["to"].as_str().unwrap_or_default();
            let Some(state) = r.body["client_state"].as_str() else {
                continue;
            };
            if own.contains(to) {
                continue;
            }
            let n = dials.fetch_add(1, Ordering::Relaxed);
            let state = state.to_owned();
            tokio::spawn(async move {
                let ccid = format!("v2:ring-{n}");
                let base = json!({"call_control_id": ccid, "client_state": state, "direction": "outgoing"});
                webhook(
                    addr,
                    &format!("ring-init-{n}"),
                    "call.initiated",
                    base.clone(),
                )
                .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut hangup = base;
                hangup["hangup_cause"] = json!("timeout");
                webhook(addr, &format!("ring-hangup-{n}"), "call.hangup", hangup).await;
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
