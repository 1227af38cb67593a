//! The call rig shared by the bridge and operator tests: the real binary with a fake
//! Telnyx (Call Control API and media client) and a fake OpenAI Realtime agent, plus
//! readers for what a call leaves behind (call record, turns, WAV recording).
#![allow(dead_code)] // each test crate uses its own part of the rig

use std::path::{Path, PathBuf};

use agent5_e2e::client::{self, empty};
use agent5_e2e::fake_media::MediaClient;
use agent5_e2e::fake_realtime::{FakeRealtime, Script};
use agent5_e2e::fake_telnyx::{FakeTelnyx, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;
use serde_json::{json, Value};

pub const TOKEN: &str = "bridge-test-token-aaaaaaaa";
pub const API_KEY: &str = "KEYbridgeTestTelnyxKey";
pub const OPENAI_KEY: &str = "sk-test-openai-key-never-logged";

pub struct Rig {
    pub app: Appliance,
    pub telnyx: FakeTelnyx,
    pub agent: FakeRealtime,
}

pub async fn rig(script: Script, extra: &str) -> Rig {
    rig_in(script, extra, None).await
}

pub async fn rig_in(script: Script, extra: &str, shared: Option<&Path>) -> Rig {
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
    pub fn sock(&self) -> PathBuf {
        self.app.unix_socket("http")
    }

    pub async fn get(&self, path: &str, bearer: bool) -> client::Reply {
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

    pub async fn get_range(&self, path: &str, range: &str) -> client::Reply {
        let req = Request::get(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("range", range)
            .body(empty())
            .expect("req");
        client::send(client::unix(&self.sock()).await, req).await
    }

    pub async fn post(&self, path: &str, body: Value) -> client::Reply {
        let req = Request::post(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(client::body(body.to_string()))
            .expect("req");
        client::send(client::unix(&self.sock()).await, req).await
    }

    /// Dials and returns the call id and the stream token Telnyx was given.
    pub async fn dial(&self, body: Value) -> (String, String) {
        dial_at(&self.sock(), &self.telnyx, body).await
    }

    /// Reads the call until `pred` holds: each read after the first waits on the
    /// appliance for the next change of the call (`?after=<revision>`), no sleeping.
    pub async fn call_until(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        let mut uri = format!("/api/calls/{id}");
        loop {
            let v = self.get(&uri, true).await.json();
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} never got there: {v:#}"
            );
            let revision = v["revision"].as_str().unwrap_or_default();
            uri = format!("/api/calls/{id}?after={revision}&wait=5");
        }
    }

    pub async fn metric(&self, series: &str) -> f64 {
        let text = String::from_utf8_lossy(&self.get("/metrics", true).await.body).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// Dials, connects the phone (confirming marks or not), answers, and waits for the
/// greeting's `chunks` chunks.
pub async fn answered(rig: &Rig, echo_marks: bool, chunks: usize) -> (String, MediaClient) {
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

pub fn turns(call: &Value) -> Vec<(String, String, bool)> {
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
pub struct Wav {
    pub format: u16,
    pub channels: u16,
    pub rate: u32,
    pub fact_frames: u32,
    pub data_len: u32,
    pub left: Vec<u8>,
    pub right: Vec<u8>,
}

pub fn wav(bytes: &[u8]) -> Wav {
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

pub fn sox_samples(path: &Path) -> Option<u64> {
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

/// Dials through the appliance on `sock` (`POST /api/calls` with `body`); the call id
/// and the stream token the carrier was given for it.
pub async fn dial_at(sock: &Path, telnyx: &FakeTelnyx, body: Value) -> (String, String) {
    let req = Request::post("/api/calls")
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(client::body(body.to_string()))
        .expect("req");
    let r = client::send(client::unix(sock).await, req).await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let token = telnyx.media_token(&id).await;
    (id, token)
}
