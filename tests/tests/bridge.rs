//! The live-call bridge end to end: a dialled call, the fake Telnyx media client on
//! `/websocket`, the fake Realtime agent, through the real binary. Recording and
//! transcript are checked byte for byte; barge-in, every tool, PCMA, agent reconnect,
//! the silent agent, bad tokens, malformed frames, and a crash mid-call.

mod call_rig;

use agent5_bridge::g711;
use agent5_e2e::client;
use agent5_e2e::fake_media::{frame, MediaClient};
use agent5_e2e::fake_realtime::{response_byte, FakeRealtime, Script};
use agent5_e2e::fake_telnyx::FakeTelnyx;
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;
use serde_json::{json, Value};

use call_rig::*;
/// A call through the rig, asserted on the way: the agent set up while the phone
/// rings, the greeting at answer, the caller's 50 frames (sent out of order in pairs)
/// relayed in order, the reply heard in full, then the hang-up. Its id and token.
async fn relayed_call(rig: &Rig) -> (String, String) {
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

    (id, token)
}

/// The relayed call once its recording and its three turns are stored.
async fn finished_call(rig: &Rig) -> (String, String, Value) {
    let (id, token) = relayed_call(rig).await;
    let call = rig
        .call_until(&id, |c| !c["recording"].is_null() && turns(c).len() == 3)
        .await;
    (id, token, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_relayed_both_ways_in_order_with_the_agent_set_up_while_ringing() {
    let rig = rig(Script::default(), "").await;
    relayed_call(&rig).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_is_recorded_and_transcribed_as_it_was_heard() {
    let rig = rig(Script::default(), "").await;
    let (id, _, call) = finished_call(&rig).await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_is_served_as_pcm16_by_byte_range_and_on_the_seed_path() {
    let rig = rig(Script::default(), "").await;
    let (id, _, _) = finished_call(&rig).await;
    let rec = rig.get(&format!("/api/calls/{id}/recording"), true).await;
    let w = wav(&rec.body);
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_is_measured_and_no_secret_is_logged() {
    let rig = rig(Script::default(), "").await;
    let (_, token, _) = finished_call(&rig).await;
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
    rig.app.wait_log(|v| v["message"] == "media stream refused");
    let log = rig.app.log_text();
    assert!(!log.contains("wrong-token") && !log.contains(&token));

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
    again.wait_log(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("recording header repaired"))
    });
}
