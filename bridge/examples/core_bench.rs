//! `cargo run --release -p agent5-bridge --example core_bench`: a call's per-frame work
//! without its sockets. Each round is one 20 ms frame pair as `agent5-load` drives it:
//! the caller's media event parsed and handled, the agent's audio delta (a new item
//! every 50 frames) parsed and handled, the carrier's mark for the frame before parsed
//! and handled, and every action taken out; the messages for the agent and the carrier
//! serialised as the media task writes them, the recorded audio copied as a recording
//! batch does. The texts are made before the clock starts. Prints ns per frame pair
//! (the median of five runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use agent5_bridge::agent::AgentIn;
use agent5_bridge::call::core::{Action, CallCore, CoreConfig, Input};
use agent5_bridge::carrier::CarrierIn;
use agent5_bridge::g711::Codec;

const ROUNDS: u64 = 50_000;

/// The frames of one run, as they arrive: the caller's media, the agent's delta.
struct Texts {
    media: Vec<String>,
    delta: Vec<String>,
}

fn texts() -> Texts {
    let payload = STANDARD.encode([0xFFu8; 160]);
    let media = (0..ROUNDS)
        .map(|n| {
            format!(
                r#"{{"event":"media","sequence_number":"{}","stream_id":"s","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":"{payload}"}}}}"#,
                n + 2,
                n + 1,
                n * 20
            )
        })
        .collect();
    let delta = (0..ROUNDS)
        .map(|n| {
            format!(
                r#"{{"type":"response.output_audio.delta","response_id":"r","item_id":"echo-{}","output_index":0,"content_index":0,"delta":"{payload}"}}"#,
                n / 50
            )
        })
        .collect();
    Texts { media, delta }
}

fn main() {
    let texts = texts();
    let mut runs: Vec<f64> = (0..5).map(|_| run(&texts)).collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "core per frame pair: {:.0} ns (median of 5 runs of {ROUNDS}; {:.0}-{:.0})",
        runs[2], runs[0], runs[4]
    );
}

/// One run; ns per frame pair.
fn run(texts: &Texts) -> f64 {
    let t0 = Instant::now();
    let mut core = CallCore::new(CoreConfig::default(), Codec::Pcmu);
    let start = r#"{"event":"start","sequence_number":"1","stream_id":"s","start":{"call_control_id":"v2:x","media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}"#;
    if let Ok(start) = CarrierIn::parse(start) {
        core.handle(Input::Carrier(start), t0);
    }
    assert!(core.answered(), "the call is answered by its start frame");
    let mut recorded: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut written = 0usize;
    let mut mark: Option<String> = None;
    let began = Instant::now();
    let mut mark_text = String::with_capacity(80);
    for (n, (media, delta)) in (0u64..).zip(texts.media.iter().zip(&texts.delta)) {
        let now = t0 + Duration::from_millis(20 * n);
        if let Ok(frame) = CarrierIn::parse(media) {
            core.handle(Input::Carrier(frame), now);
        }
        if let Ok(event) = AgentIn::parse(delta) {
            core.handle(Input::Agent(event), now);
        }
        if let Some(name) = mark.take() {
            mark_text.clear();
            mark_text.push_str(r#"{"event":"mark","sequence_number":"0","mark":{"name":""#);
            mark_text.push_str(&name);
            mark_text.push_str(r#""}}"#);
            if let Ok(frame) = CarrierIn::parse(&mark_text) {
                core.handle(Input::Carrier(frame), now);
            }
        }
        while let Some(action) = core.poll() {
            match action {
                Action::Agent(out) => written += black_box(out.to_json()).len(),
                Action::Carrier(out) => {
                    let json = out.to_json();
                    if let agent5_bridge::carrier::CarrierOut::Mark { mark: m } = &out {
                        mark = Some(m.name.clone());
                    }
                    written += black_box(json).len();
                }
                Action::Record { audio, .. } => {
                    if recorded.len() > 60_000 {
                        recorded.clear();
                    }
                    recorded.extend_from_slice(&audio);
                }
                other => drop(black_box(other)),
            }
        }
    }
    let elapsed = began.elapsed();
    black_box((written, recorded.len()));
    elapsed.as_nanos() as f64 / ROUNDS as f64
}
