//! The live-call bridge end to end: a dialled call, the fake Telnyx media client on
//! `/websocket`, the fake Realtime agent, through the real binary. Recording and
//! transcript are checked byte for byte; barge-in, every tool, PCMA, agent reconnect,
//! the silent agent, bad tokens, malformed frames, and a crash mid-call.

use std::path::{Path, PathBuf};

use agent5_bridge::g711;
use agent5_e2e::client::{self, empty};
use agent5_e2e::fake_media::{frame, MediaClient};
use agent5_e2e::fake_realtime::{response_byte, FakeRealtime, Script};
use agent5_e2e::fake_telnyx::{FakeTelnyx, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;
use serde_json::{json, Value};

const TOKEN: &str = "bridge-test-token-aaaaaaaa";
const API_KEY: &str = "KEYbridgeTestTelnyxKey";
const OPENAI_KEY: &str = "sk-test-openai-key-never-logged";

struct Rig {
    app: Appliance,
    telnyx: FakeTelnyx,
    agent: FakeRealtime,
}

async fn rig(script: Script, extra: &str) -> Rig {
    rig_in(script, extra, None).await
}

async fn rig_in(script: Script, extra: &str, shared: Option<&Path>) -> Rig {
    let telnyx = FakeTelnyx::start(API_KEY).await;
    let agent = FakeRealtime::start(script).await;
    let paths = shared.map_or_else(String::new, |d| {
        format!(
            "[store]\nsqlite_path = \"{}\"\n[recordings]\ndir = \"{}\"\n",
            d.join("agent5.db").display(),
            d.join("recordings").display()
        )
    });
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         [openai]\napi_key = \"{OPENAI_KEY}\"\nrealtime_url = \"{}\"\n\
         [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\nretry_backoff_ms = 5\ntransfer_to = \"+3225559999\"\n{extra}\n{paths}",
        agent.url, telnyx.url
    );
    let app = tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)));
    Rig { app, telnyx, agent }
}

impl Rig {
    fn sock(&self) -> PathBuf {
        self.app.unix_socket("http")
    }

    async fn get(&self, path: &str, bearer: bool) -> client::Reply {
        let mut req = Request::get(path).header("host", "agent5.test");
        if bearer {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        client::send(
            client::unix(&self.sock()).await,
            req.body(empty()).expect("req"),
        )
        .await
    }

    async fn get_range(&self, path: &str, range: &str) -> client::Reply {
        let req = Request::get(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("range", range)
            .body(empty())
            .expect("req");
        client::send(client::unix(&self.sock()).await, req).await
    }

    async fn post(&self, path: &str, body: Value) -> client::Reply {
        let req = Request::post(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(client::body(body.to_string()))
            .expect("req");
        client::send(client::unix(&self.sock()).await, req).await
    }

    /// Dials and returns the call id and the stream token Telnyx was given.
    async fn dial(&self, body: Value) -> (String, String) {
        let r = self.post("/api/calls", body).await;
        assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
        let id = r.json()["id"].as_str().expect("id").to_owned();
        let dial = self
            .telnyx
            .requests_to("/v2/calls")
            .into_iter()
            .find(|d| {
                d.body["stream_url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(&id))
            })
            .expect("dial request");
        (
            id,
            dial.body["stream_auth_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        )
    }

    async fn call_until(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let v = self.get(&format!("/api/calls/{id}"), true).await.json();
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} never got there: {v:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    async fn metric(&self, series: &str) -> f64 {
        let text = String::from_utf8_lossy(&self.get("/metrics", true).await.body).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// Dials, connects the phone (confirming marks or not), answers, and waits for the
/// greeting's `chunks` chunks.
async fn answered(rig: &Rig, echo_marks: bool, chunks: usize) -> (String, MediaClient) {
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), echo_marks).await;
    phone.connected();
    phone.start("PCMU");
    phone
        .wait("the greeting", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() == chunks
        })
        .await;
    (id, phone)
}

fn turns(call: &Value) -> Vec<(String, String, bool)> {
    call["transcript"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|x| {
                    (
                        x["role"].as_str().unwrap_or_default().to_owned(),
                        x["text"].as_str().unwrap_or_default().to_owned(),
                        x["interrupted"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Header fields and the two channels of a µ-law stereo WAV.
struct Wav {
    format: u16,
    channels: u16,
    rate: u32,
    fact_frames: u32,
    data_len: u32,
    left: Vec<u8>,
    right: Vec<u8>,
}

fn wav(bytes: &[u8]) -> Wav {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    assert_eq!(&bytes[38..42], b"fact");
    assert_eq!(&bytes[50..54], b"data");
    assert_eq!(u32_at(4) as usize, bytes.len() - 8, "RIFF size");
    let data = &bytes[58..];
    Wav {
        format: u16_at(20),
        channels: u16_at(22),
        rate: u32_at(24),
        fact_frames: u32_at(46),
        data_len: u32_at(54),
        left: data.iter().step_by(2).copied().collect(),
        right: data.iter().skip(1).step_by(2).copied().collect(),
    }
}

fn sox_samples(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("soxi")
        .arg("-s")
        .arg(path)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "soxi: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_is_relayed_recorded_and_transcribed() {
    let rig = rig(Script::default(), "").await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    // The agent is connected while the phone rings.
    let setup = rig
        .agent
        .wait_event(0, |e| e["type"] == "session.update")
        .await;
    assert_eq!(
        rig.agent.authorization(0).as_deref(),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(
        rig.agent.path(0).as_deref(),
        Some("/v1/realtime?model=gpt-realtime")
    );
    assert_eq!(
        setup["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    assert_eq!(setup["session"]["audio"]["output"]["voice"], "marin");
    assert!(
        rig.agent
            .events(0)
            .iter()
            .all(|e| e["type"] != "response.create"),
        "no greeting before answer"
    );

    phone.start("PCMU");
    phone
        .wait("the greeting", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() == 5
        })
        .await;
    assert_eq!(phone.audio(), vec![response_byte(1); 800]);
    // The caller answers; frames go out of order in pairs and are put back in order.
    let order: Vec<usize> = (0..50).map(|i| i ^ 1).collect();
    phone.talk(0x7A, 50, 0, Some(&order)).await;
    phone
        .wait("the reply, heard in full", |f, _| {
            f.iter().filter(|x| x["event"] == "mark").count() == 10
        })
        .await;
    let appended: Vec<u8> = rig
        .agent
        .events(0)
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.append")
        .map(|e| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(e["audio"].as_str().unwrap_or_default())
                .unwrap_or_default()[0]
        })
        .collect();
    assert_eq!(
        appended,
        (0..50u8).collect::<Vec<_>>(),
        "the agent hears the caller in order"
    );
    phone.stop();
    phone.close();

    let call = rig
        .call_until(&id, |c| !c["recording"].is_null() && turns(c).len() == 3)
        .await;
    assert_eq!(
        turns(&call),
        vec![
            ("agent".into(), "agent says 1".into(), false),
            ("caller".into(), "caller turn 1".into(), false),
            ("agent".into(), "agent says 2".into(), false),
        ]
    );
    let rec = rig.get(&format!("/api/calls/{id}/recording"), true).await;
    assert_eq!(rec.status, 200);
    assert_eq!(rec.header("content-type"), Some("audio/wav"));
    let w = wav(&rec.body);
    assert_eq!((w.format, w.channels, w.rate), (7, 2, 8000));
    assert_eq!(w.data_len as usize, rec.body.len() - 58);
    assert_eq!(w.fact_frames as usize * 2, w.data_len as usize);
    // Left: the caller, placed by timestamp: 50 frames from 0 ms, each as sent.
    for i in 0..50usize {
        assert_eq!(
            &w.left[i * 160..(i + 1) * 160],
            frame(0x7A, i).as_slice(),
            "caller frame {i}"
        );
    }
    // Right: both agent replies, whole, on the agent's side only.
    let count = |b: u8| w.right.iter().filter(|x| **x == b).count();
    assert_eq!(
        (count(response_byte(1)), count(response_byte(2))),
        (800, 800)
    );
    let first = |b: u8| w.right.iter().position(|x| *x == b).unwrap_or(usize::MAX);
    assert!(
        first(response_byte(1)) < 400,
        "the greeting plays at answer"
    );
    assert!(
        first(response_byte(2)) >= 8000 - 400,
        "the reply after the caller spoke"
    );
    // Readable by sox, with the same sample count.
    let file = rig
        .app
        .dir()
        .join("data/recordings")
        .join(format!("{id}.wav"));
    if let Some(samples) = sox_samples(&file) {
        assert_eq!(samples, u64::from(w.fact_frames));
    }

    // The browser's PCM16 version, a byte range, and the seed's path.
    let pcm = rig
        .get(&format!("/api/calls/{id}/recording?format=pcm16"), true)
        .await;
    let mut reader =
        hound::WavReader::new(std::io::Cursor::new(pcm.body.to_vec())).expect("pcm16 wav");
    assert_eq!(
        (
            reader.spec().channels,
            reader.spec().sample_rate,
            reader.spec().bits_per_sample
        ),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    assert_eq!(samples.len(), w.fact_frames as usize * 2);
    assert_eq!(samples[2 * 200], g711::ulaw_to_linear(0x7A));
    let part = rig
        .get_range(&format!("/api/calls/{id}/recording"), "bytes=0-57")
        .await;
    assert_eq!(part.status.as_u16(), 206);
    assert_eq!(part.body.len(), 58);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 0-57/{}", rec.body.len()).as_str())
    );
    let bad = rig
        .get_range(&format!("/api/calls/{id}/recording"), "bytes=999999999-")
        .await;
    assert_eq!(bad.status.as_u16(), 416);
    assert_eq!(
        rig.get(&format!("/recordings/{id}.wav"), false)
            .await
            .status
            .as_u16(),
        401,
        "protected by default"
    );
    let seed = rig.get(&format!("/recordings/{id}.wav"), true).await;
    assert_eq!(seed.body, rec.body);
    assert_eq!(
        rig.get("/recordings/..%2F..%2Fetc%2Fpasswd", true)
            .await
            .status
            .as_u16(),
        404
    );

    assert!(
        rig.metric("agent5_media_frames_total{direction=\"in\"}")
            .await
            >= 50.0
    );
    assert!(rig.metric("agent5_media_frames_reordered_total").await >= 1.0);
    assert_eq!(rig.metric("agent5_voice_to_voice_seconds_count").await, 1.0);
    assert_eq!(
        rig.metric("agent5_agent_first_audio_seconds_count").await,
        1.0
    );
    assert_eq!(rig.metric("agent5_calls_active").await, 0.0);
    let log = rig.app.log_text();
    assert!(
        !log.contains(OPENAI_KEY) && !log.contains(&token),
        "no secret in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_truncates_to_what_was_heard_and_clears_the_carrier() {
    let rig = rig(
        Script {
            chunks: 50,
            ..Script::default()
        },
        "",
    )
    .await;
    // This phone never confirms playback: none of the greeting counts as heard.
    let (id, mut phone) = answered(&rig, false, 50).await;
    phone.talk(0x7A, 12, 0, None).await;
    phone
        .wait("a clear", |f, _| f.iter().any(|x| x["event"] == "clear"))
        .await;
    let truncate = rig
        .agent
        .wait_event(0, |e| e["type"] == "conversation.item.truncate")
        .await;
    assert_eq!(truncate["item_id"], "resp-0-1");
    assert_eq!(truncate["content_index"], 0);
    assert_eq!(truncate["audio_end_ms"], 0, "nothing was heard");
    phone.stop();
    let call = rig
        .call_until(&id, |c| !c["recording"].is_null() && !turns(c).is_empty())
        .await;
    assert_eq!(
        turns(&call)[0],
        ("agent".into(), "agent says 1".into(), true)
    );
    assert_eq!(rig.metric("agent5_barge_ins_total").await, 1.0);
    // The recording keeps only what was heard before the cut.
    let w = wav(&rig
        .get(&format!("/api/calls/{id}/recording"), true)
        .await
        .body);
    let agent_bytes = w.right.iter().filter(|b| **b == response_byte(1)).count();
    assert!(
        agent_bytes < 8000,
        "the cut removed the unplayed greeting ({agent_bytes} samples kept)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_is_carried_out() {
    let script = Script {
        tools: vec![
            (1, "confirm_language".into(), json!({"language": "fr"})),
            (2, "opt_out".into(), json!({"reason": "niet meer bellen"})),
            (3, "transfer".into(), json!({})),
            (4, "nonsense".into(), json!({})),
            (5, "end_call".into(), json!({})),
        ],
        ..Script::default()
    };
    let rig = rig(script, "").await;
    // A prospect to confirm the language of.
    let boundary = "b0undary";
    let csv = "invoice_contact_name,invoice_phone,invoice_language\r\nAcme,+32475123456,nl\r\n";
    let body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"p.csv\"\r\n\r\n{csv}\r\n--{boundary}--\r\n");
    let req = Request::post("/api/prospects/upload")
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(client::body(body))
        .expect("req");
    let up = client::send(client::unix(&rig.sock()).await, req)
        .await
        .json();
    let prospect = up["imported_items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (id, token) = rig
        .dial(json!({"to": "+32475123456", "prospect_id": prospect}))
        .await;
    rig.telnyx.wait_for(1, |r| r.path == "/v2/calls").await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    phone.start("PCMU");
    let mut ts = 0;
    for turn in 1..=5 {
        ts = phone.talk(0x7A, 50, ts, None).await;
        let want = format!("call-{turn}");
        let out = rig
            .agent
            .wait_event(0, |e| {
                e["type"] == "conversation.item.create" && e["item"]["call_id"] == want.as_str()
            })
            .await;
        let output: Value = serde_json::from_str(out["item"]["output"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
        match turn {
            4 => assert!(
                output["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("unknown tool")),
                "{output}"
            ),
            _ => assert_eq!(output["ok"], true, "turn {turn}: {output}"),
        }
    }
    // confirm_language: the prospect's contact is French, confirmed.
    let p = rig
        .get(&format!("/api/prospects/{prospect}"), true)
        .await
        .json();
    assert_eq!(
        (
            p["invoice"]["language"].as_str(),
            p["invoice"]["language_confirmed"].as_bool()
        ),
        (Some("fr"), Some(true))
    );
    // opt_out: the number is on the DNC list, from the call.
    let dnc = rig.get("/api/dnc?q=%2B32475123456", true).await.json();
    assert_eq!(dnc["items"][0]["source"], "call");
    assert_eq!(dnc["items"][0]["reason"], "niet meer bellen");
    // transfer: Call Control was asked to transfer to the configured human.
    let transfers = rig
        .telnyx
        .wait_for(1, |r| r.path.ends_with("/actions/transfer"))
        .await;
    assert_eq!(transfers[0].body["to"], "+3225559999");
    // end_call: goodbye, then a hang-up once the caller heard it.
    rig.telnyx
        .wait_for(1, |r| r.path.ends_with("/actions/hangup"))
        .await;
    let call = rig
        .call_until(&id, |c| c["hangup_requested"] == "end_call")
        .await;
    assert_eq!(call["hangup_requested"], "end_call");
    phone.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pcma_call_passes_through_and_is_recorded_as_ulaw() {
    let rig = rig(Script::default(), "codec = \"PCMA\"").await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    assert_eq!(
        rig.telnyx.requests_to("/v2/calls")[0].body["stream_codec"],
        "PCMA"
    );
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    let setup = rig
        .agent
        .wait_event(0, |e| e["type"] == "session.update")
        .await;
    assert_eq!(
        setup["session"]["audio"]["input"]["format"]["type"],
        "audio/pcma"
    );
    phone.start("PCMA");
    phone
        .wait("the greeting", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() == 5
        })
        .await;
    assert_eq!(
        phone.audio(),
        vec![response_byte(1); 800],
        "agent audio passes through untouched"
    );
    phone.talk(0xD5, 20, 0, None).await;
    phone.stop();
    rig.call_until(&id, |c| !c["recording"].is_null()).await;
    let w = wav(&rig
        .get(&format!("/api/calls/{id}/recording"), true)
        .await
        .body);
    let caller = g711::linear_to_ulaw(g711::alaw_to_linear(0xD5));
    assert!(
        w.left[1..160].iter().all(|b| *b == caller),
        "A-law caller audio recorded as µ-law"
    );
    let agent = g711::linear_to_ulaw(g711::alaw_to_linear(response_byte(1)));
    assert_eq!(w.right.iter().filter(|b| **b == agent).count(), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_agent_is_reconnected_once() {
    let rig = rig(
        Script {
            drop_after: Some(1),
            ..Script::default()
        },
        "",
    )
    .await;
    let (_id, mut phone) = answered(&rig, true, 5).await;
    // The second connection gets the session again and is told what happened.
    rig.agent
        .wait_event(1, |e| e["type"] == "session.update")
        .await;
    let note = rig
        .agent
        .wait_event(1, |e| e["type"] == "conversation.item.create")
        .await;
    assert!(note["item"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("interrupted")));
    rig.agent
        .wait_event(1, |e| e["type"] == "response.create")
        .await;
    phone
        .wait("audio from the new agent", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() == 10
        })
        .await;
    assert_eq!(
        rig.metric("agent5_agent_failures_total{kind=\"reconnected\"}")
            .await,
        1.0
    );
    phone.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_is_nudged_then_the_call_is_hung_up() {
    let rig = rig_silent().await;
    let (id, mut phone) = answered(&rig, true, 5).await;
    phone.talk(0x7A, 50, 0, None).await;
    rig.telnyx
        .wait_for(1, |r| r.path.ends_with("/actions/hangup"))
        .await;
    let creates: Vec<Value> = rig
        .agent
        .events(0)
        .into_iter()
        .filter(|e| e["type"] == "response.create")
        .collect();
    assert_eq!(creates.len(), 3, "greeting, nudge, apology: {creates:?}");
    assert!(creates[2]["response"]["instructions"]
        .as_str()
        .is_some_and(|i| i.contains("Apologise")));
    let call = rig
        .call_until(&id, |c| c["hangup_requested"] == "agent_silent")
        .await;
    assert_eq!(call["hangup_requested"], "agent_silent");
    phone.stop();
}

async fn rig_silent() -> Rig {
    let telnyx = FakeTelnyx::start(API_KEY).await;
    let agent = FakeRealtime::start(Script {
        silent_after: Some(1),
        ..Script::default()
    })
    .await;
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         [openai]\napi_key = \"{OPENAI_KEY}\"\nrealtime_url = \"{}\"\nsilence_timeout_secs = 1\n\
         [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\nstream_url = \"wss://agent5.test/websocket\"\n",
        agent.url, telnyx.url
    );
    let app = tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)));
    Rig { app, telnyx, agent }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_malformed_frames() {
    let rig = rig(Script::default(), "").await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    for (call, tok, reason) in [
        (id.as_str(), Some("wrong-token"), "wrong_token"),
        (id.as_str(), None, "missing_token"),
        (
            "0000000000000000deadbeef",
            Some(token.as_str()),
            "unknown_call",
        ),
    ] {
        let phone = MediaClient::connect(&rig.sock(), call, tok, true).await;
        phone.wait("a policy close", |_, c| c.is_some()).await;
        assert_eq!(
            phone.closed(),
            Some((1008, "unauthorized".into())),
            "{reason}"
        );
        assert_eq!(
            rig.metric(&format!(
                "agent5_media_auth_failures_total{{reason=\"{reason}\"}}"
            ))
            .await,
            1.0
        );
    }
    let log = rig.app.log_text();
    assert!(
        log.contains("media stream refused")
            && !log.contains("wrong-token")
            && !log.contains(&token)
    );

    // Garbage on the stream: counted, the call goes on.
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    phone.send_raw(tokio_tungstenite::tungstenite::Message::text("{not json"));
    phone.send_raw(tokio_tungstenite::tungstenite::Message::binary(vec![
        1, 2, 3,
    ]));
    phone.send(&json!({"event": "media", "sequence_number": "2", "media": {"payload": "%%%"}}));
    phone.send(&json!({"event": "hologram", "sequence_number": "3"}));
    phone.send(&json!({"event": "error", "payload": {"code": 100003, "title": "malformed_frame"}}));
    phone.start("PCMU");
    phone
        .wait("the greeting", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() == 5
        })
        .await;
    phone.stop();
    rig.call_until(&id, |c| !c["recording"].is_null()).await;
    assert_eq!(
        rig.metric("agent5_media_frames_dropped_total{reason=\"malformed\"}")
            .await,
        2.0
    );
    assert_eq!(rig.metric("agent5_media_unknown_events_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closed_before_start_is_quiet() {
    let rig = rig(Script::default(), "").await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    rig.agent
        .wait_event(0, |e| e["type"] == "session.update")
        .await;
    phone.close();
    phone.wait("the close", |_, c| c.is_some()).await;
    let call = rig.get(&format!("/api/calls/{id}"), true).await.json();
    assert!(
        call["recording"].is_null(),
        "no recording for an unanswered call"
    );
    assert!(!rig.app.log_text().contains("\"level\":\"ERROR\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_survives_a_crash_mid_call() {
    let shared = tempfile::tempdir().expect("tmp");
    let rig = rig_in(Script::default(), "", Some(shared.path())).await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    phone.start("PCMU");
    phone.talk(0x7A, 250, 0, None).await;
    let file = shared.path().join("recordings").join(format!("{id}.wav"));
    let mut app = rig.app;
    app.signal("KILL");
    app.wait_exit();
    let before = std::fs::read(&file).expect("partial recording");
    assert!(
        before.len() > 58 + 2 * 8000,
        "seconds were on disk before the crash ({} bytes)",
        before.len()
    );
    // A new process repairs the header at start-up.
    let again = tokio::task::block_in_place(|| {
        Appliance::start(Spec::new(
            agent5_bin!(),
            format!(
                "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[store]\nsqlite_path = \"{}\"\n[recordings]\ndir = \"{}\"\n",
                shared.path().join("agent5.db").display(),
                shared.path().join("recordings").display()
            ),
        ))
    });
    let after = std::fs::read(&file).expect("recording");
    let w = wav(&after);
    assert_eq!(w.data_len as usize, after.len() - 58);
    assert_eq!(w.fact_frames as usize * 2, w.data_len as usize);
    assert!(
        w.left
            .iter()
            .take(8000)
            .skip(1)
            .filter(|b| **b == 0x7A)
            .count()
            > 7000,
        "the caller's audio is there"
    );
    if let Some(samples) = sox_samples(&file) {
        assert_eq!(samples, u64::from(w.fact_frames));
    }
    assert!(again.log_text().contains("recording header repaired"));
}

/// Reads a Server-Sent Events response as it arrives.
struct EventStream {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    changed: std::sync::Arc<tokio::sync::Notify>,
}

impl EventStream {
    async fn open(sock: &Path, path: &str) -> Self {
        use http_body_util::BodyExt;
        let stream = client::unix(sock).await;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req");
        let res = sender.send_request(req).await.expect("response");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let (t, c) = (
            std::sync::Arc::clone(&text),
            std::sync::Arc::clone(&changed),
        );
        tokio::spawn(async move {
            let mut body = res.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    t.lock()
                        .expect("lock")
                        .push_str(&String::from_utf8_lossy(&data));
                    c.notify_waiters();
                }
            }
        });
        Self { text, changed }
    }

    /// Waits for an event of `kind` whose data contains `needle`; returns its data.
    async fn wait(&self, kind: &str, needle: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let found = self
                .text
                .lock()
                .expect("lock")
                .split("\n\n")
                .find_map(|block| {
                    let mut event = "";
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(e) = line.strip_prefix("event: ") {
                            event = e;
                        } else if let Some(d) = line.strip_prefix("data: ") {
                            data.push_str(d);
                        }
                    }
                    (event == kind && data.contains(needle))
                        .then(|| serde_json::from_str(&data).unwrap_or(Value::Null))
                });
            if let Some(v) = found {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no {kind} event with {needle}; got:\n{}",
                    self.text.lock().expect("lock")
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_are_listed_and_announced() {
    let rig = rig(Script::default(), "").await;
    let events = EventStream::open(&rig.sock(), "/api/calls/live/events").await;
    let snapshot = events.wait("snapshot", "items").await;
    assert_eq!(snapshot["items"], json!([]));
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    let started = events.wait("call.started", &id).await;
    assert_eq!(
        (started["state"].as_str(), started["controller"].as_str()),
        (Some("ringing"), Some("agent"))
    );
    assert_eq!(started["phone"], "+32475123456");
    phone.start("PCMU");
    let updated = events.wait("call.updated", &id).await;
    assert_eq!(updated["state"], "streaming");
    assert!(updated["answered_at"].as_i64().is_some());
    phone.talk(0x10, 25, 0, None).await;
    let live = rig.get("/api/calls/live", true).await.json();
    assert_eq!(live["items"][0]["call_id"], id.as_str());
    assert_eq!(live["items"][0]["direction"], "outbound");
    assert!(
        live["items"][0]["caller_level"]
            .as_f64()
            .is_some_and(|l| l > 0.1),
        "{live}"
    );
    phone.stop();
    events.wait("call.ended", &id).await;
    assert_eq!(
        rig.get("/api/calls/live", true).await.json()["items"],
        json!([])
    );
    assert_eq!(rig.get("/api/calls/live", false).await.status.as_u16(), 401);
}

/// A listen-in client: collects every message until the server closes.
async fn listen(
    sock: &Path,
    query: &str,
) -> tokio::task::JoinHandle<(Vec<tokio_tungstenite::tungstenite::Message>, Option<u16>)> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = client::unix(sock).await;
    let mut req = format!("ws://agent5.test/monitor?{query}")
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("monitor");
    tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(f) = &m {
                return (got, f.as_ref().map(|f| u16::from(f.code)));
            }
            got.push(m);
        }
        (got, None)
    })
}

/// Goertzel power of `freq` in `samples`.
fn power(samples: &[i16], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_hear_both_tracks_at_their_rate() {
    use base64::Engine;
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let (id, token) = rig.dial(json!({"to": "+32475123456"})).await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    rig.agent
        .wait_event(0, |e| e["type"] == "session.update")
        .await;
    let json16 = listen(&rig.sock(), &format!("call={id}&rate=16000&operator=ann")).await;
    let bin48 = listen(&rig.sock(), &format!("call={id}&binary=1")).await;
    phone.start("PCMU");
    // One second of a 1 kHz tone from the caller, paced like the phone network.
    let tone: Vec<u8> = (0..8000)
        .map(|i| {
            g711::linear_to_ulaw(
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin())
                    as i16,
            )
        })
        .collect();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    for (n, chunk) in tone.chunks(160).enumerate() {
        tick.tick().await;
        let n = n as u64;
        phone.media(n + 3, n * 20, chunk);
    }
    phone
        .wait("the reply, heard in full", |f, _| {
            f.iter().filter(|x| x["event"] == "mark").count() == 10
        })
        .await;
    phone.stop();
    let (msgs, code) = json16.await.expect("listener");
    assert_eq!(code, Some(1000), "closed when the call ended");
    let mut caller = Vec::new();
    let mut agent_samples = 0;
    let mut levels = 0;
    let mut transcript = Vec::new();
    for m in &msgs {
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t).expect("json");
        match v["type"].as_str() {
            Some("audio") => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v["audio"].as_str().unwrap_or_default())
                    .expect("b64");
                let samples: Vec<i16> = bytes
                    .chunks(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                if v["track"] == "caller" {
                    caller.extend(samples);
                } else {
                    agent_samples += samples.len();
                }
            }
            Some("level") => levels += 1,
            Some("transcript") => {
                transcript.push(v["text"].as_str().unwrap_or_default().to_owned())
            }
            _ => {}
        }
    }
    assert_eq!(caller.len(), 16_000, "every caller sample, at 16 kHz");
    assert_eq!(agent_samples, 2 * 1600, "both agent replies, at 16 kHz");
    let settled = &caller[4000..12_000];
    assert!(
        power(settled, 1000.0, 16_000.0) > 1000.0 * power(settled, 3000.0, 16_000.0),
        "the tone survives resampling"
    );
    assert!(levels >= 10, "levels about ten times a second: {levels}");
    assert!(
        transcript.contains(&"caller turn 1".to_owned()),
        "{transcript:?}"
    );
    let (msgs, _) = bin48.await.expect("listener");
    let caller48: usize = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Binary(b) if b.first() == Some(&0) => Some((b.len() - 1) / 2),
            _ => None,
        })
        .sum();
    assert_eq!(caller48, 48_000, "binary frames at 48 kHz");
    let audit = rig.get("/api/audit", true).await.json();
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == "call.listen"
                && e["actor"] == "ann"
                && e["target"] == id.as_str())),
        "{audit}"
    );
    // No bearer, no listening.
    let req = Request::get(format!("/monitor?call={id}"))
        .header("host", "agent5.test")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(empty())
        .expect("req");
    assert_eq!(
        client::send(client::unix(&rig.sock()).await, req)
            .await
            .status
            .as_u16(),
        401
    );
}

type OperatorSocket = tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>;

async fn operator(sock: &Path, query: &str) -> OperatorSocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = client::unix(sock).await;
    let mut req = format!("ws://agent5.test/operator-bridge?{query}")
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("header"),
    );
    tokio_tungstenite::client_async(req, stream)
        .await
        .expect("operator")
        .0
}

/// `seconds` of a `freq` tone at 48 kHz, as the admin page sends it (20 ms chunks).
fn mic_chunks(freq: f64, seconds: usize) -> Vec<String> {
    use base64::Engine;
    (0..seconds * 50)
        .map(|c| {
            let bytes: Vec<u8> = (0..960)
                .flat_map(|i| {
                    let t = (c * 960 + i) as f64 / 48_000.0;
                    ((8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16).to_le_bytes()
                })
                .collect();
            json!({"type": "audio", "audio": base64::engine::general_purpose::STANDARD.encode(bytes)}).to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_takes_over_and_hands_back() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let (id, mut phone) = answered(&rig, true, 5).await;
    let (mut bob_tx, mut bob) = operator(&rig.sock(), &format!("room={id}&operator=bob"))
        .await
        .split();
    rig.agent
        .wait_event(0, |e| e["type"] == "response.cancel")
        .await;
    let live = rig.get("/api/calls/live", true).await.json();
    assert_eq!(live["items"][0]["controller"], "bob");
    // A second operator is refused.
    let mut eve = operator(&rig.sock(), &format!("room={id}&operator=eve")).await;
    match eve.next().await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(
                (u16::from(f.code), f.reason.as_str()),
                (4409, "call_already_taken")
            );
        }
        other => panic!("expected a close, got {other:?}"),
    }
    // Bob speaks (a 440 Hz tone); the caller hears it in µ-law, paced at 20 ms.
    let before = phone.audio().len();
    for chunk in mic_chunks(440.0, 1) {
        bob_tx.send(Message::text(chunk)).await.expect("send");
    }
    let mut levels = 0;
    while levels < 50 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), bob.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "mic_level" {
                    assert!(v["rms"].as_f64().is_some_and(|r| r > 0.1), "{v}");
                    levels += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("operator socket: {other:?}"),
        }
    }
    // Bob's page keeps reading what he hears.
    let bob_ears = tokio::spawn(async move { while let Some(Ok(_)) = bob.next().await {} });
    phone
        .wait("the operator's voice", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() >= 5 + 50
        })
        .await;
    let heard: Vec<i16> = phone.audio()[before..before + 8000]
        .iter()
        .map(|b| g711::ulaw_to_linear(*b))
        .collect();
    let settled = &heard[2000..6000];
    assert!(
        power(settled, 440.0, 8000.0) > 100.0 * power(settled, 2000.0, 8000.0),
        "the operator's tone reaches the caller"
    );
    // The caller answers; the agent's reply is discarded while Bob has the call.
    phone.talk(0x7A, 50, 2000, None).await;
    rig.agent
        .wait_event(0, |e| e["type"] == "input_audio_buffer.append")
        .await;
    let agent_frames = |p: &MediaClient| {
        p.frames()
            .iter()
            .filter(|f| f["event"] == "media")
            .filter(|f| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(f["media"]["payload"].as_str().unwrap_or_default())
                    .is_ok_and(|b| b.iter().all(|x| *x == response_byte(2)))
            })
            .count()
    };
    assert_eq!(agent_frames(&phone), 0, "the muted agent is not heard");
    // Bob hangs up his microphone: the agent gets the call back, told what was said.
    // The caller's words are in the transcript before Bob leaves.
    rig.call_until(&id, |c| turns(c).iter().any(|t| t.1 == "caller turn 1"))
        .await;
    bob_tx.close().await.expect("close");
    let _ = bob_ears.await;
    let note = rig
        .agent
        .wait_event(0, |e| {
            e["type"] == "conversation.item.create"
                && e["item"]["content"][0]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("caller turn 1"))
        })
        .await;
    assert!(note["item"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("hands the call back")));
    phone
        .wait("the agent again", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() >= 5 + 50 + 5
        })
        .await;
    let live = rig.get("/api/calls/live", true).await.json();
    assert_eq!(live["items"][0]["controller"], "agent");
    phone.stop();
    let audit = rig.get("/api/audit", true).await.json();
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["actor"].as_str().unwrap_or("").to_owned(),
                        e["action"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        actions.contains(&("bob".into(), "call.takeover".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("bob".into(), "call.takeover.end".into())),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whisper_reaches_the_agent_only() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let (id, phone) = answered(&rig, true, 5).await;
    let mut ann = operator(&rig.sock(), &format!("room={id}&operator=ann&mode=whisper")).await;
    let frames_before = phone
        .frames()
        .iter()
        .filter(|f| f["event"] == "media")
        .count();
    for chunk in mic_chunks(440.0, 1) {
        ann.send(Message::text(chunk)).await.expect("send");
    }
    ann.send(Message::text(json!({"type": "commit"}).to_string()))
        .await
        .expect("commit");
    let item = rig
        .agent
        .wait_event(0, |e| {
            e["type"] == "conversation.item.create"
                && e["item"]["content"][1]["type"] == "input_audio"
        })
        .await;
    assert!(item["item"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("supervisor")));
    use base64::Engine;
    let audio = base64::engine::general_purpose::STANDARD
        .decode(
            item["item"]["content"][1]["audio"]
                .as_str()
                .unwrap_or_default(),
        )
        .expect("b64");
    assert_eq!(audio.len(), 8000, "one second at 8 kHz in the call's codec");
    assert!(
        rig.agent
            .events(0)
            .iter()
            .all(|e| e["type"] != "response.cancel"),
        "the agent is not muted"
    );
    assert_eq!(
        phone
            .frames()
            .iter()
            .filter(|f| f["event"] == "media")
            .count(),
        frames_before,
        "the caller hears nothing of it"
    );
    let audit = rig.get("/api/audit", true).await.json();
    assert!(audit["items"].as_array().is_some_and(|a| a
        .iter()
        .any(|e| e["action"] == "call.whisper" && e["actor"] == "ann")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_studio_talks_to_the_browser_and_is_recorded() {
    use base64::Engine;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let stream = client::unix(&rig.sock()).await;
    let mut req = "ws://agent5.test/agent-stream?lang=fr&campaign=spring"
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("header"),
    );
    let (ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("studio");
    let (mut tx, mut rx) = ws.split();
    let setup = rig
        .agent
        .wait_event(0, |e| e["type"] == "session.update")
        .await;
    assert_eq!(
        setup["session"]["audio"]["input"]["format"],
        json!({"type": "audio/pcm", "rate": 24000})
    );
    assert_eq!(
        setup["session"]["audio"]["input"]["transcription"]["language"],
        "fr"
    );
    // One second of browser audio (24 kHz PCM16), in the seed's message shape.
    for c in 0..50 {
        let bytes: Vec<u8> = (0..480)
            .flat_map(|i| {
                ((8000.0
                    * (2.0 * std::f64::consts::PI * 300.0 * f64::from(c * 480 + i) / 24_000.0)
                        .sin()) as i16)
                    .to_le_bytes()
            })
            .collect();
        let m = json!({"type": "audio", "audio": base64::engine::general_purpose::STANDARD.encode(bytes)});
        tx.send(Message::text(m.to_string())).await.expect("send");
    }
    let mut kinds = Vec::new();
    let mut agent_bytes = 0;
    while !kinds.iter().any(|k| k == "agent_speaking:false") {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), rx.next())
            .await
            .expect("studio reply");
        let Some(Ok(Message::Text(t))) = msg else {
            panic!("studio socket: {msg:?}")
        };
        let v: Value = serde_json::from_str(&t).expect("json");
        match v["type"].as_str().unwrap_or_default() {
            "agent_audio_24k" => {
                agent_bytes += base64::engine::general_purpose::STANDARD
                    .decode(v["audio"].as_str().unwrap_or_default())
                    .map_or(0, |b| b.len());
                kinds.push("agent_audio_24k".to_owned());
            }
            "agent_speaking" => kinds.push(format!("agent_speaking:{}", v["speaking"])),
            "latency" => {
                assert!(v["ms"].as_u64().is_some(), "{v}");
                kinds.push("latency".into());
            }
            other => kinds.push(other.to_owned()),
        }
    }
    assert_eq!(agent_bytes, 5 * 160);
    for want in [
        "first_audio_delta",
        "latency",
        "agent_speaking:true",
        "agent_audio_24k",
        "agent_speaking:false",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
    tx.close().await.expect("close");
    let calls = rig.get("/api/calls?page_size=5", true).await.json();
    let id = calls["items"][0]["id"].as_str().expect("id").to_owned();
    let call = rig
        .call_until(&id, |c| !c["recording"].is_null() && c["status"] == "ended")
        .await;
    assert_eq!(
        (
            call["direction"].as_str(),
            call["campaign_id"].as_str(),
            call["lang"].as_str()
        ),
        (Some("studio"), Some("spring"), Some("fr"))
    );
    assert_eq!(
        turns(&call)
            .iter()
            .map(|t| t.0.as_str())
            .collect::<Vec<_>>(),
        vec!["caller", "agent"]
    );
    let w = wav(&rig
        .get(&format!("/api/calls/{id}/recording"), true)
        .await
        .body);
    assert!(
        w.left.iter().filter(|b| **b != 0xFF).count() > 4000,
        "the browser's voice on the left"
    );
}
