//! The fuzz targets' bodies (`fuzz/fuzz_targets/*.rs` call these): every parser that
//! takes outside bytes, with the invariants each must keep. `tests/tests/fuzz_corpora.rs`
//! replays the committed corpora through them in `make test`, so the corpora are
//! regression tests without an instrumented build.

use agent5_api::calls::state;
use agent5_api::import::layout::{Layout, Target};
use agent5_api::import::records::{Records, REPORT_ROW_CHARS};
use agent5_api::import::row::{parse, parse_delivery, Definitions};
use agent5_api::integrations::telnyx::events::Event;
use agent5_api::integrations::telnyx::signature::{FixedClock, PublicKey, Verifier};
use agent5_api::model::{Call, CallStatus, Direction, FieldDef};
use agent5_api::phone::Region;
use agent5_bridge::agent::AgentIn;
use agent5_bridge::call::core::{Action, CallCore, CoreConfig, Input};
use agent5_bridge::carrier::media_clock::TOLERANCE_SAMPLES;
use agent5_bridge::carrier::CarrierIn;
use agent5_bridge::g711::Codec;
use agent5_bridge::resample::Resampler;
use agent5_proxy::config::{parse_toml, Config, Overrides};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Telnyx media frames through the call core: each input line is one WebSocket text
/// frame, fed at a clock that advances 20 ms per frame. Whatever the frames say, the
/// core must not panic, and audio it asks to record lands near the call's clock.
pub fn media_frames(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t0 = Instant::now();
    let mut core = CallCore::new(CoreConfig::default(), Codec::Pcmu);
    for (i, line) in text.lines().enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        if let Ok(frame) = CarrierIn::parse(line) {
            core.handle(Input::Carrier(frame), now);
        }
        core.handle(Input::Tick, now);
        let clock = core.sample_at(now);
        while let Some(action) = core.poll() {
            if let Action::Record { at, .. } = action {
                assert!(
                    at <= clock + TOLERANCE_SAMPLES + 16_000,
                    "audio placed at {at}, the call is at {clock}"
                );
            }
        }
    }
    core.handle(Input::CallerGone, Instant::now());
    while core.poll().is_some() {}
}

/// A PCMA call starting (the core then transcodes what the agent sends).
const START: &str = r#"{"event":"start","sequence_number":"1","stream_id":"s","start":{"call_control_id":"v2:x","media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}}}"#;
/// OpenAI Realtime server events through the call core (after a Telnyx `start`): each
/// input line is one event. The core must not panic whatever the agent sends.
pub fn realtime_events(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t0 = Instant::now();
    let mut core = CallCore::new(CoreConfig::default(), Codec::Pcmu);
    if let Ok(start) = CarrierIn::parse(START) {
        core.handle(Input::Carrier(start), t0);
    }
    for (i, line) in text.lines().enumerate() {
        let now = t0 + Duration::from_millis(10 * i as u64);
        if let Ok(event) = AgentIn::parse(line) {
            core.handle(Input::Agent(event), now);
        }
        core.handle(Input::Tick, now);
        while core.poll().is_some() {}
    }
    core.handle(Input::CallerGone, Instant::now());
    while core.poll().is_some() {}
}

/// What browsers send the bridge: the `/monitor` and `/agent-stream` query strings,
/// then PCM16 audio at the rate the query chose, resampled to the call's 8 kHz and
/// back (the operator path). Input: a query line, then raw bytes of audio.
pub fn browser_messages(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (query, audio) = data.split_at(split);
    let query = String::from_utf8_lossy(query);
    let _ = agent5_bridge::studio::parse(&query);
    let Ok(listen) = agent5_bridge::monitor::parse(&query) else {
        return;
    };
    let pcm: Vec<i16> = audio
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut down = Resampler::new(listen.rate, 8000, 16);
    let mut up = Resampler::new(8000, listen.rate, 16);
    let eight = down.process(&pcm);
    let back = up.process(&eight);
    // Resampling keeps the length proportional (within a filter's worth of samples).
    let expect = pcm.len() as u64 * 8000 / u64::from(listen.rate);
    assert!(
        eight.len() as u64 <= expect + 64,
        "{} from {}",
        eight.len(),
        pcm.len()
    );
    assert!(back.len() as u64 <= pcm.len() as u64 + 512);
}

/// The published Telnyx test key (its signatures are the only valid ones).
const KEY: &str = crate::fake_telnyx::TEST_PUBLIC_KEY_B64;
/// Telnyx webhooks: the signature check over the raw body (headers from the first
/// line), then the envelope, then the call state machine fed the event. Nothing may
/// panic; the derived status is always one of the known statuses.
pub fn webhook_envelope(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(0);
    let (head, body) = data.split_at(split);
    let body = body.strip_prefix(b"\n").unwrap_or(body);
    let head = String::from_utf8_lossy(head);
    let (ts, sig) = head.split_once('|').unwrap_or((&head, ""));
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(ts) {
        headers.insert("telnyx-timestamp", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(sig) {
        headers.insert("telnyx-signature-ed25519", v);
    }
    if let Ok(key) = PublicKey::parse(KEY) {
        let verifier = Verifier::new(Some(key), 300, Arc::new(FixedClock(1_700_000_000)));
        let _ = verifier.verify(&headers, body);
    }
    let Ok(event) = Event::parse(body) else {
        return;
    };
    let mut call = Call::new(
        "c",
        Direction::Outbound,
        "+32475123456".into(),
        1_700_000_000_000,
    );
    for _ in 0..2 {
        let _ = state::apply(&mut call, &event);
    }
    assert!(CallStatus::ALL.contains(&call.status), "{}", call.status);
    assert_eq!(
        call.timeline.first().map(|s| s.status),
        Some(CallStatus::Dialing)
    );
}

/// A custom field definition of `kind`.
fn def(key: &str, kind: &str) -> FieldDef {
    serde_json::from_value(serde_json::json!({
        "id": key, "key": key, "label": key, "type": kind, "required": false,
        "options": ["gold", "silver"], "visibility": "both", "order": 0
    }))
    .expect("def")
}
/// CSV uploads as they arrive: encoding detection, the header layout, then every row
/// through the row parser with a few custom field definitions, and the failed-row
/// report. Nothing may panic and no report row is longer than its bound.
pub fn csv_import(data: &[u8]) {
    let target = if data.first().is_some_and(|b| b & 1 == 1) {
        Target::Deliveries
    } else {
        Target::Prospects
    };
    let Ok(mut records) = Records::open(data) else {
        return;
    };
    let defs = Definitions::new(vec![
        def("tier", "enum"),
        def("since", "date"),
        def("credit", "number"),
    ]);
    let Ok(layout) = Layout::from_header(&records.header, &defs.keys(), target, true) else {
        return;
    };
    while let Some(Ok((_, record))) = records.next_record() {
        let cells: Vec<&str> = record.iter().collect();
        match target {
            Target::Prospects => {
                let _ = parse(&layout, &cells, &defs, Region::default());
            }
            Target::Deliveries => {
                let _ = parse_delivery(&layout, &cells, &defs, Region::default());
            }
        }
        let (row, _) = records.original_row(&cells);
        let chars: usize = row
            .values()
            .filter_map(|v| v.as_str())
            .map(|s| s.chars().count())
            .sum();
        assert!(chars <= REPORT_ROW_CHARS);
    }
}

/// `agent5.toml` as written by hand: parsed and validated with an empty environment.
/// Errors are fine (they name the key); a panic is not.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse_toml(text) else {
        return;
    };
    let env: HashMap<String, String> = HashMap::new();
    if let Err(e) = Config::from_sources(file, None, &Overrides::default(), &env) {
        assert!(!e.to_string().is_empty());
    }
}
