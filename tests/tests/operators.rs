//! Operators in the loop, end to end on the call rig: the live-call list and its event
//! stream, `/monitor` listen-in, `/operator-bridge` takeover and whisper, and Agent
//! Studio on `/agent-stream`.

mod call_rig;

use std::path::Path;

use agent5_bridge::g711;
use agent5_e2e::client::{self, empty};
use agent5_e2e::fake_media::MediaClient;
use agent5_e2e::fake_realtime::{response_byte, Script};
use agent5_e2e::sse::EventStream;
use agent5_e2e::tones::{caller_heard_tone, mic_chunks, power};
use http::Request;
use serde_json::{json, Value};

use call_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_are_listed_and_announced() {
    let rig = rig(Script::default(), "").await;
    let events = EventStream::open(&rig.sock(), "/api/calls/live/events", TOKEN).await;
    let snapshot = events.wait("snapshot", "items").await;
    assert_eq!(snapshot["items"], json!([]));
    let campaign = rig
        .post("/api/campaigns", json!({"name": "Spring invoices"}))
        .await
        .json();
    let (id, token) = rig
        .dial(json!({"to": "+32475123456", "campaign_id": campaign["id"]}))
        .await;
    let mut phone = MediaClient::connect(&rig.sock(), &id, Some(&token), true).await;
    phone.connected();
    let started = events.wait("call.started", &id).await;
    assert_eq!(started["campaign_name"], "Spring invoices");
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
    // Every call's levels in one event, twice a second, while calls are live.
    let levels = events.wait("levels", &id).await;
    assert_eq!(levels["items"][0]["call_id"], id.as_str());
    assert!(
        levels["items"][0]["caller_level"].as_f64().is_some(),
        "{levels}"
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
    let mut ws = client::websocket(sock, &format!("/monitor?{query}"), Some(TOKEN))
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

/// One second of a 1 kHz tone, µ-law.
fn one_second_tone() -> Vec<u8> {
    (0..8000)
        .map(|i| {
            g711::linear_to_ulaw(
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin())
                    as i16,
            )
        })
        .collect()
}

/// What a JSON listener received: the caller's samples, how many of the agent's, how
/// many level messages, and the transcript.
struct Heard {
    caller: Vec<i16>,
    agent_samples: usize,
    levels: usize,
    transcript: Vec<String>,
}

fn heard(msgs: &[tokio_tungstenite::tungstenite::Message]) -> Heard {
    use base64::Engine;
    use tokio_tungstenite::tungstenite::Message;
    let mut caller = Vec::new();
    let mut agent_samples = 0;
    let mut levels = 0;
    let mut transcript = Vec::new();
    for m in msgs {
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
    Heard {
        caller,
        agent_samples,
        levels,
        transcript,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_needs_a_bearer_token() {
    let rig = rig(Script::default(), "").await;
    let (id, _) = rig.dial(json!({"to": "+32475123456"})).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_hear_both_tracks_at_their_rate() {
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
    let tone = one_second_tone();
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
    let Heard {
        caller,
        agent_samples,
        levels,
        transcript,
    } = heard(&msgs);
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
                && e["actor"] == "ann via env:AUTH_TOKEN"
                && e["target"] == id.as_str())),
        "{audit}"
    );
}

type OperatorSocket = tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>;

async fn operator(sock: &Path, query: &str) -> OperatorSocket {
    client::websocket(sock, &format!("/operator-bridge?{query}"), Some(TOKEN))
        .await
        .expect("operator")
}

/// Reads the operator's socket until `n` microphone levels came, each of a voice.
async fn expect_mic_levels(bob: &mut futures_util::stream::SplitStream<OperatorSocket>, n: usize) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut levels = 0;
    while levels < n {
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
}

/// Media frames the caller got that carry the agent's second reply.
fn agent_frames(p: &MediaClient) -> usize {
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
}

/// The audit log as (actor, action) pairs.
fn audit_actions(audit: &Value) -> Vec<(String, String)> {
    audit["items"]
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
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_operator_is_refused_while_one_has_the_call() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let (id, _phone) = answered(&rig, true, 5).await;
    let _bob = operator(&rig.sock(), &format!("room={id}&operator=bob")).await;
    rig.agent
        .wait_event(0, |e| e["type"] == "response.cancel")
        .await;
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
    assert_eq!(live["items"][0]["controller"], "bob via env:AUTH_TOKEN");
    // Bob speaks (a 440 Hz tone); the caller hears it in µ-law, paced at 20 ms.
    let before = phone.audio().len();
    for chunk in mic_chunks(440.0, 1) {
        bob_tx.send(Message::text(chunk)).await.expect("send");
    }
    expect_mic_levels(&mut bob, 50).await;
    // Bob's page keeps reading what he hears.
    let bob_ears = tokio::spawn(async move { while let Some(Ok(_)) = bob.next().await {} });
    phone
        .wait("the operator's voice", |f, _| {
            f.iter().filter(|x| x["event"] == "media").count() >= 5 + 50
        })
        .await;
    assert!(
        caller_heard_tone(&phone.audio()[before..before + 8000], 440.0),
        "the operator's tone reaches the caller"
    );
    // The caller answers; the agent's reply is discarded while Bob has the call.
    phone.talk(0x7A, 50, 2000, None).await;
    rig.agent
        .wait_event(0, |e| e["type"] == "input_audio_buffer.append")
        .await;
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
    let actions = audit_actions(&audit);
    assert!(
        actions.contains(&("bob via env:AUTH_TOKEN".into(), "call.takeover".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("bob via env:AUTH_TOKEN".into(), "call.takeover.end".into())),
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
        .any(|e| e["action"] == "call.whisper" && e["actor"] == "ann via env:AUTH_TOKEN")));
}

/// Chunk `c` of one second of a 300 Hz tone as a browser sends it: 20 ms of 24 kHz
/// PCM16, base64.
fn browser_tone_chunk(c: u32) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = (0..480)
        .flat_map(|i| {
            ((8000.0
                * (2.0 * std::f64::consts::PI * 300.0 * f64::from(c * 480 + i) / 24_000.0).sin())
                as i16)
                .to_le_bytes()
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

type StudioRx =
    futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>>;

/// The Studio's messages until the agent stops speaking: their kinds (`agent_speaking`
/// with its value) and the agent audio's byte count.
async fn studio_until_silent(rx: &mut StudioRx) -> (Vec<String>, usize) {
    use base64::Engine;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
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
    (kinds, agent_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_studio_talks_to_the_browser_and_is_recorded() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let rig = rig(Script::default(), "").await;
    let ws = client::websocket(
        &rig.sock(),
        "/agent-stream?lang=fr&campaign=spring",
        Some(TOKEN),
    )
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
        let m = json!({"type": "audio", "audio": browser_tone_chunk(c)});
        tx.send(Message::text(m.to_string())).await.expect("send");
    }
    let (kinds, agent_bytes) = studio_until_silent(&mut rx).await;
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
