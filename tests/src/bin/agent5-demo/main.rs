//! `agent5-demo --bin PATH/TO/agent5 [--calls N] [--listen ADDR] [--control]`: the
//! appliance with everything a newcomer needs to see it work, and nothing from outside:
//! a simulated carrier (the e2e fake Telnyx REST API, signed webhooks, and phones that
//! stream µ-law over the appliance's media WebSocket) and a demo agent speaking the
//! OpenAI Realtime events (a voice-activity detector on what it hears, spoken answers
//! as tones with their transcripts). 40 sample prospects are imported first.
//!
//! Without `--control` (what `make demo` runs), N call slots each place one call after
//! another (30 to 90 s, a few seconds apart), and the URL and the admin password are
//! printed. With `--control` (the console's browser tests), nothing is dialled until
//! asked: JSON commands on stdin, JSON events on stdout, one per line:
//!
//! - `{"cmd":"call"}` -> `{"event":"call","id","call_control_id","phone"}` once the phone streams;
//! - `{"cmd":"heard","id"}` -> `{"event":"heard","id","hz440","hz660","hz880","rms"}`: the
//!   amplitude (0..1 of full scale) of each tone in the last second the phone received;
//! - `{"cmd":"end","id"}`: the phone hangs up -> `{"event":"ended","id","by":"phone"}`;
//!   a hang-up from the appliance ends the call too (`"by":"appliance"`);
//! - unasked: `{"event":"whisper","seconds","hz440"}` when the agent receives a
//!   supervisor's whispered instruction (its length, and its 440 Hz amplitude).
//!
//! The phone speaks as a 660 Hz tone (3.6 s of silence, then 1.4 s of it, again and again); the agent answers as an
//! 880 Hz tone; an operator's microphone is whatever the browser captures.

mod agent;
mod carrier;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent5_bridge::g711;
use agent5_e2e::fake_telnyx::{self, FakeTelnyx, WebhookSigner};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// `--control`: events go to stdout as JSON lines.
static CONTROL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

const CALLER_HZ: f32 = 660.0;
const AGENT_HZ: f32 = 880.0;
/// The phone's talk pattern, in 20 ms frames: speaking, then silent.
const TALK_FRAMES: u64 = 70;
const PAUSE_FRAMES: u64 = 180;
const SAMPLE_PROSPECTS: usize = 40;

const FIRST_NAMES: [&str; 10] = [
    "Anke", "Bram", "Chloé", "Dirk", "Elise", "Farid", "Greet", "Hugo", "Ines", "Jonas",
];
const LAST_NAMES: [&str; 8] = [
    "Peeters", "Janssens", "Dubois", "Maes", "Lambert", "Willems", "Claes", "Mertens",
];
const COMPANIES: [&str; 5] = [
    "Bakkerij Peeters",
    "Garage Centrum",
    "Fleurs & Co",
    "Brouwerij De Linde",
    "Transport Maes",
];

struct Args {
    bin: PathBuf,
    calls: usize,
    listen: String,
    control: bool,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::new(),
        calls: 3,
        listen: "127.0.0.1:3000".to_owned(),
        control: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bin" => a.bin = it.next().map(PathBuf::from).unwrap_or_default(),
            "--calls" => a.calls = it.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--listen" => a.listen = it.next().unwrap_or_default(),
            "--control" => a.control = true,
            _ => {
                eprintln!(
                    "usage: agent5-demo --bin PATH/TO/agent5 [--calls N] [--listen ADDR] [--control]"
                );
                std::process::exit(2);
            }
        }
    }
    if a.bin.as_os_str().is_empty() {
        eprintln!("agent5-demo: --bin PATH/TO/agent5 is required");
        std::process::exit(2);
    }
    a
}

fn main() {
    let args = args();
    CONTROL.store(args.control, std::sync::atomic::Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(args));
    std::process::exit(code);
}

/// One line of JSON on stdout (the control protocol).
fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// What every task of the demo shares.
struct Demo {
    addr: SocketAddr,
    token: String,
    telnyx: FakeTelnyx,
    control: bool,
    /// Live calls by id: what each phone heard, and how to end it.
    calls: Mutex<HashMap<String, PhoneHandle>>,
}

#[derive(Clone)]
struct PhoneHandle {
    heard: Arc<Mutex<VecDeque<i16>>>,
    end: watch::Sender<bool>,
}

struct Sample {
    id: String,
    phone: String,
}

async fn run(args: Args) -> i32 {
    let telnyx = FakeTelnyx::start("KEYdemo").await;
    let agent = TcpListener::bind("127.0.0.1:0").await.expect("bind agent");
    let agent_addr = agent.local_addr().expect("agent addr");
    tokio::spawn(agent::demo_agent(agent));
    let work = tempfile::tempdir().expect("temp dir");
    let token = format!("demo-{:032x}", rand_u128());
    let config = work.path().join("agent5.toml");
    std::fs::write(
        &config,
        config_text(&args.listen, &token, &telnyx, agent_addr),
    )
    .expect("write config");
    let data = work.path().join("data");
    let password = match bootstrap(&args.bin, &config, &data) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("agent5-demo: {e}");
            return 1;
        }
    };
    let (mut child, addr) = match serve(&args.bin, &config, &data) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agent5-demo: {e}");
            return 1;
        }
    };
    let demo = Arc::new(Demo {
        addr,
        token,
        telnyx,
        control: args.control,
        calls: Mutex::new(HashMap::new()),
    });
    tokio::spawn(carrier::answer_campaign_calls(Arc::clone(&demo)));
    let samples = match seed_prospects(&demo).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("agent5-demo: sample prospects not imported: {e}");
            let _ = child.kill();
            return 1;
        }
    };
    let url = format!("http://{addr}");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let mut controlled = None;
    if args.control {
        emit(
            &json!({"event": "ready", "url": url, "email": "admin@localhost", "password": password}),
        );
        controlled = Some(tokio::spawn(control(
            Arc::clone(&demo),
            Arc::clone(&samples),
        )));
    } else {
        announce(&url, &password, args.calls);
        for slot in 0..args.calls {
            tokio::spawn(call_slot(Arc::clone(&demo), Arc::clone(&samples), slot));
        }
    }
    let mut exited = tokio::task::spawn_blocking(move || {
        let status = child.wait();
        status.map(|s| s.code().unwrap_or(1)).unwrap_or(1)
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    // The control protocol's stdin closing (the test runner gone) ends the demo too.
    let stdin_closed = async {
        match controlled {
            Some(task) => {
                let _ = task.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        code = &mut exited => {
            eprintln!("agent5-demo: the appliance exited");
            return code.unwrap_or(1);
        }
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        () = stdin_closed => {}
    }
    // The appliance never outlives the demo: it drains and stops like under systemd.
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    if tokio::time::timeout(Duration::from_secs(10), &mut exited)
        .await
        .is_err()
    {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    drop(work);
    0
}

/// What the demo prints for a person (without `--control`).
fn announce(url: &str, password: &str, calls: usize) {
    println!("agent5 demo on {url}/  (simulated carrier and agent; nothing leaves this machine)");
    println!("  sign in as admin@localhost with the password {password}");
    println!(
        "  {} call slots place calls to {SAMPLE_PROSPECTS} sample prospects; Ctrl-C stops everything",
        calls
    );
}

/// A random value from the kernel (no extra dependency for one token).
fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    u128::from_le_bytes(b)
}

/// The demo's configuration. Every simulated phone, webhook and browser comes from
/// 127.0.0.1, so the per-address rate limits are opened wide.
fn config_text(listen: &str, token: &str, telnyx: &FakeTelnyx, agent: SocketAddr) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{token}\"]\n\
         [rate_limit]\napi = {{ per_minute = 100000, burst = 10000 }}\nwebhook = {{ per_minute = 100000, burst = 10000 }}\nwebsocket = {{ per_minute = 100000, burst = 10000 }}\n\
         [openai]\napi_key = \"sk-demo\"\nrealtime_url = \"ws://{agent}/v1/realtime?model=gpt-realtime\"\n\
         [telnyx]\napi_key = \"KEYdemo\"\napi_base = \"{}\"\nconnection_id = \"demo\"\nphone_number = \"+3225550000\"\n\
         public_key_pem = \"{}\"\nstream_url = \"ws://agent5.demo/websocket\"\nmax_concurrent_calls = 500\n",
        telnyx.url,
        fake_telnyx::TEST_PUBLIC_KEY_B64,
    )
}

/// `agent5 user bootstrap`: the first admin and its password (from the file it writes).
fn bootstrap(bin: &Path, config: &Path, data: &Path) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["user", "bootstrap", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("AUTH_TOKEN")
        .env_remove("MONGO_URI")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "user bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read_to_string(data.join("admin-password"))
        .map(|p| p.trim().to_owned())
        .map_err(|e| format!("no admin password written: {e}"))
}

/// Starts `agent5 serve`; returns once it is ready, with its HTTP address.
fn serve(bin: &Path, config: &Path, data: &Path) -> Result<(Child, SocketAddr), String> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("AUTH_TOKEN")
        .env_remove("MONGO_URI")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // The log is read to the end (a full pipe would stall the appliance), and dropped.
    std::thread::spawn(move || {
        let mut addr = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match v["message"].as_str() {
                Some("listening") if v["role"] == "http" && addr.is_none() => {
                    addr = v["addr"]
                        .as_str()
                        .and_then(|a| a.parse::<SocketAddr>().ok());
                }
                Some("agent5 ready") => {
                    let _ = tx.send(addr);
                }
                _ => {}
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(addr)) => Ok((child, addr)),
        _ => {
            let _ = child.kill();
            Err("the appliance did not become ready".to_owned())
        }
    }
}

/// One HTTP/1.1 request to the appliance with the demo's token; status and JSON body.
async fn request(
    demo: &Demo,
    method: &str,
    path: &str,
    content_type: &str,
    body: Bytes,
) -> Result<(u16, Value), String> {
    let stream = TcpStream::connect(demo.addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "agent5.demo")
        .header("authorization", format!("Bearer {}", demo.token))
        .header("content-type", content_type)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Imports the sample prospects; their ids and phones.
async fn seed_prospects(demo: &Demo) -> Result<Vec<Sample>, String> {
    let mut csv = String::from(
        "invoice_contact_name,invoice_company,invoice_phone,invoice_email,invoice_language,invoice_tags\r\n",
    );
    let mut phones = Vec::new();
    for i in 0..SAMPLE_PROSPECTS {
        let first = FIRST_NAMES[i % FIRST_NAMES.len()];
        let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
        let phone = format!("+32470{:06}", 100_000 + i * 7919 % 900_000);
        let lang = ["nl", "fr", "nl", "en"][i % 4];
        let tags = ["invoice;2026", "delivery", "vip;invoice", "new"][i % 4];
        csv.push_str(&format!(
            "{first} {last},{},{phone},{}.{}@example.be,{lang},{tags}\r\n",
            COMPANIES[i % COMPANIES.len()],
            first.to_lowercase().replace('é', "e"),
            last.to_lowercase(),
        ));
        phones.push(phone);
    }
    let boundary = "agent5-demo-boundary";
    let body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"csv\"; filename=\"demo.csv\"\r\ncontent-type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let (status, report) = request(
        demo,
        "POST",
        "/api/prospects/upload",
        &format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
    .await?;
    if status != 200 {
        return Err(format!("{status} {report}"));
    }
    let items = report["imported_items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| {
            // Spreadsheet rows: the header is row 1.
            let row = usize::try_from(item["row"].as_u64()?).ok()?;
            Some(Sample {
                id: item["id"].as_str()?.to_owned(),
                phone: phones.get(row.checked_sub(2)?)?.clone(),
            })
        })
        .collect())
}

/// `make demo`: calls one after another on this slot.
async fn call_slot(demo: Arc<Demo>, samples: Arc<Vec<Sample>>, slot: usize) {
    let mut n = slot;
    // Slots start a few seconds apart.
    tokio::time::sleep(Duration::from_secs(2 * slot as u64)).await;
    loop {
        let Some(sample) = samples.get(n % samples.len().max(1)) else {
            return;
        };
        let seconds = 30 + (rand_u128() % 60) as u64;
        match place(&demo, sample).await {
            Ok((id, ended)) => {
                let handle = demo.calls.lock().ok().and_then(|c| c.get(&id).cloned());
                let mut ended = ended;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(seconds)) => {
                        if let Some(h) = handle {
                            let _ = h.end.send(true);
                        }
                        let _ = ended.changed().await;
                    }
                    _ = ended.changed() => {}
                }
            }
            Err(e) => eprintln!("agent5-demo: call not placed: {e}"),
        }
        n += samples.len() / 3 + 1;
        tokio::time::sleep(Duration::from_secs(3 + (rand_u128() % 5) as u64)).await;
    }
}

/// `--control`: commands from stdin.
async fn control(demo: Arc<Demo>, samples: Arc<Vec<Sample>>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut next = 0usize;
    while let Some(line) = rx.recv().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            emit(&json!({"event": "error", "message": "not JSON"}));
            continue;
        };
        let id = cmd["id"].as_str().unwrap_or_default().to_owned();
        let handle = demo.calls.lock().ok().and_then(|c| c.get(&id).cloned());
        match (cmd["cmd"].as_str(), handle) {
            (Some("call"), _) => {
                let Some(sample) = samples.get(next % samples.len().max(1)) else {
                    continue;
                };
                next += 1;
                if let Err(e) = place(&demo, sample).await {
                    emit(&json!({"event": "error", "message": e}));
                }
            }
            (Some("heard"), Some(h)) => {
                let samples: Vec<i16> = h
                    .heard
                    .lock()
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                emit(&json!({"event": "heard", "id": id,
                    "hz440": tone(&samples, 440.0), "hz660": tone(&samples, CALLER_HZ), "hz880": tone(&samples, AGENT_HZ),
                    "rms": rms(&samples)}));
            }
            (Some("end"), Some(h)) => {
                let _ = h.end.send(true);
            }
            _ => emit(
                &json!({"event": "error", "message": format!("unknown command or call: {line}")}),
            ),
        }
    }
}

/// The amplitude (0..1 of full scale) of `hz` in 8 kHz samples (Goertzel).
fn tone(samples: &[i16], hz: f32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * f64::from(hz) / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    (2.0 * power.max(0.0).sqrt() / samples.len() as f64 * 1000.0).round() / 1000.0
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    ((sum / samples.len() as f64).sqrt() * 1000.0).round() / 1000.0
}

/// A signed Telnyx webhook for the call, as the carrier sends it.
async fn webhook(demo: &Demo, kind: &str, call_id: &str, ccid: &str, extra: Value) {
    let now = fake_telnyx::now_millis();
    let mut payload = json!({"call_control_id": ccid, "client_state": fake_telnyx::client_state(call_id),
        "direction": "outgoing", "from": "+3225550000"});
    if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
        p.extend(e);
    }
    let id = format!("demo-{:x}", rand_u128());
    let body = fake_telnyx::envelope(&id, kind, &fake_telnyx::carrier_time(now), payload);
    let ts = fake_telnyx::now_unix();
    let signature = WebhookSigner::test_key().sign(ts, &body);
    let Ok(stream) = TcpStream::connect(demo.addr).await else {
        return;
    };
    let Ok((mut sender, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return;
    };
    tokio::spawn(conn);
    let Ok(req) = hyper::Request::post("/api/telnyx/events")
        .header("host", "agent5.demo")
        .header("content-type", "application/json")
        .header("telnyx-timestamp", ts.to_string())
        .header("telnyx-signature-ed25519", signature)
        .body(Full::new(Bytes::from(body)))
    else {
        return;
    };
    let _ = sender.send_request(req).await;
}

/// Dials `sample` through the appliance and starts its phone; the call id and a
/// receiver that changes when the call has ended.
async fn place(
    demo: &Arc<Demo>,
    sample: &Sample,
) -> Result<(String, watch::Receiver<bool>), String> {
    let body = json!({"to": sample.phone, "prospect_id": sample.id}).to_string();
    let (status, call) = request(
        demo,
        "POST",
        "/api/calls",
        "application/json",
        Bytes::from(body),
    )
    .await?;
    let id = call["id"]
        .as_str()
        .ok_or_else(|| format!("dial refused: {status} {call}"))?
        .to_owned();
    let ccid = call["call_control_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ring(demo, id, ccid, sample.phone.clone()).await
}

/// The phone of the call `id` the carrier was asked to dial: its media stream, the
/// carrier's events, and the call until someone hangs up.
async fn ring(
    demo: &Arc<Demo>,
    id: String,
    ccid: String,
    phone: String,
) -> Result<(String, watch::Receiver<bool>), String> {
    let dial = demo
        .telnyx
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.body["stream_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(&id))
        })
        .ok_or("the carrier got no dial with a stream")?;
    let media_token = dial.body["stream_auth_token"].as_str().unwrap_or_default();
    let stream = TcpStream::connect(demo.addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut req = format!("ws://agent5.demo/websocket?call={id}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "x-telnyx-streaming-auth-token",
        HeaderValue::from_str(media_token).map_err(|e| e.to_string())?,
    );
    let (ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .map_err(|e| e.to_string())?;
    webhook(demo, "call.initiated", &id, &ccid, json!({"to": phone})).await;
    webhook(demo, "call.answered", &id, &ccid, json!({"to": phone})).await;
    let handle = PhoneHandle {
        heard: Arc::new(Mutex::new(VecDeque::with_capacity(8000))),
        end: watch::channel(false).0,
    };
    let (ended_tx, ended_rx) = watch::channel(false);
    if let Ok(mut calls) = demo.calls.lock() {
        calls.insert(id.clone(), handle.clone());
    }
    if demo.control {
        emit(&json!({"event": "call", "id": id, "call_control_id": ccid, "phone": phone}));
    }
    let demo = Arc::clone(demo);
    let call_id = id.clone();
    tokio::spawn(async move {
        let by = phone_call(&demo, ws, &ccid, &handle).await;
        webhook(&demo, "streaming.stopped", &id, &ccid, json!({})).await;
        let source = if by == "phone" { "callee" } else { "caller" };
        webhook(
            &demo,
            "call.hangup",
            &id,
            &ccid,
            json!({"to": phone, "hangup_cause": "normal_clearing", "hangup_source": source}),
        )
        .await;
        if let Ok(mut calls) = demo.calls.lock() {
            calls.remove(&id);
        }
        if demo.control {
            emit(&json!({"event": "ended", "id": id, "by": by}));
        }
        let _ = ended_tx.send(true);
    });
    Ok((call_id, ended_rx))
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The phone's side of one call until someone hangs up; who did (`phone`/`appliance`).
async fn phone_call(demo: &Demo, ws: Ws, ccid: &str, handle: &PhoneHandle) -> &'static str {
    let (mut tx, mut rx) = ws.split();
    let text = |v: Value| Message::text(v.to_string());
    let start = json!({"event": "start", "sequence_number": "1", "stream_id": "demo",
        "start": {"call_control_id": ccid, "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}});
    if tx
        .send(text(json!({"event": "connected", "version": "1.0.0"})))
        .await
        .is_err()
        || tx.send(text(start)).await.is_err()
    {
        return "appliance";
    }
    let mut end = handle.end.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch_hangup = tokio::time::interval(Duration::from_millis(250));
    // The appliance percent-encodes every byte but letters and digits in the path.
    let encoded: String = ccid
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let hangup_path = format!("/v2/calls/{encoded}/actions/hangup");
    let mut n = 0u64;
    let mut phase = 0.0f32;
    let by = loop {
        tokio::select! {
            _ = tick.tick() => {
                // Silent first: the agent greets.
                let talking = n % (TALK_FRAMES + PAUSE_FRAMES) >= PAUSE_FRAMES;
                let mut payload = [0xFFu8; 160];
                if talking {
                    for b in &mut payload {
                        *b = g711::linear_to_ulaw((phase.sin() * 8000.0) as i16);
                        phase = (phase + 2.0 * std::f32::consts::PI * CALLER_HZ / 8000.0) % (2.0 * std::f32::consts::PI);
                    }
                }
                let frame = json!({"event": "media", "sequence_number": (n + 2).to_string(), "stream_id": "demo",
                    "media": {"track": "inbound", "chunk": (n + 1).to_string(), "timestamp": (n * 20).to_string(), "payload": STANDARD.encode(payload)}});
                n += 1;
                if tx.send(text(frame)).await.is_err() {
                    break "appliance";
                }
            }
            msg = rx.next() => {
                let Some(Ok(msg)) = msg else { break "appliance" };
                let Message::Text(t) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                match v["event"].as_str() {
                    Some("media") => {
                        let Ok(audio) = STANDARD.decode(v["media"]["payload"].as_str().unwrap_or_default()) else { continue };
                        if let Ok(mut heard) = handle.heard.lock() {
                            for b in audio {
                                if heard.len() == 8000 {
                                    heard.pop_front();
                                }
                                heard.push_back(g711::ulaw_to_linear(b));
                            }
                        }
                    }
                    Some("mark") => {
                        let mark = json!({"event": "mark", "sequence_number": "0", "stream_id": "demo", "mark": v["mark"]});
                        let _ = tx.send(text(mark)).await;
                    }
                    _ => {}
                }
            }
            _ = watch_hangup.tick() => {
                if !demo.telnyx.requests_to(&hangup_path).is_empty() {
                    break "appliance";
                }
            }
            _ = end.changed() => break "phone",
        }
    };
    let stop = json!({"event": "stop", "sequence_number": (n + 2).to_string(), "stream_id": "demo",
        "stop": {"call_control_id": ccid}});
    let _ = tx.send(text(stop)).await;
    let _ = tx.close().await;
    by
}
