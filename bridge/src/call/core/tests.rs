use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::*;
use crate::agent::{AgentIn, AgentOut};
use crate::carrier::{CarrierIn, CarrierOut};
use crate::g711;

fn start(encoding: &str) -> CarrierIn {
    CarrierIn::parse(&format!(
        r#"{{"event":"start","sequence_number":"1","stream_id":"s","start":{{"call_control_id":"v2:x","media_format":{{"encoding":"{encoding}","sample_rate":8000,"channels":1}}}}}}"#
    ))
    .expect("start")
}

fn media(seq: u64, ts: u64, bytes: &[u8]) -> CarrierIn {
    CarrierIn::parse(&format!(
        r#"{{"event":"media","sequence_number":"{seq}","stream_id":"s","media":{{"track":"inbound","chunk":"{seq}","timestamp":"{ts}","payload":"{}"}}}}"#,
        STANDARD.encode(bytes)
    ))
    .expect("media")
}

fn mark(name: &str) -> CarrierIn {
    CarrierIn::parse(&format!(
        r#"{{"event":"mark","sequence_number":"9","mark":{{"name":"{name}"}}}}"#
    ))
    .expect("mark")
}

fn delta(item: &str, bytes: usize) -> AgentIn {
    AgentIn::AudioDelta {
        item_id: item.into(),
        delta: STANDARD.encode(vec![0x55; bytes]),
    }
}

fn drain(core: &mut CallCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll()).collect()
}

fn without_measures(actions: Vec<Action>) -> Vec<Action> {
    actions
        .into_iter()
        .filter(|a| !matches!(a, Action::Measure(_)))
        .collect()
}

fn answered(codec: Codec, t0: Instant) -> CallCore {
    let mut core = CallCore::new(CoreConfig::default(), codec);
    core.handle(
        Input::Carrier(start(if codec == Codec::Pcmu { "PCMU" } else { "PCMA" })),
        t0,
    );
    assert_eq!(
        drain(&mut core),
        vec![Action::Agent(AgentOut::ResponseCreate { response: None })],
        "the agent greets"
    );
    core
}

#[test]
fn caller_audio_is_ordered_relayed_and_recorded_by_timestamp() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcmu, t0);
    core.handle(Input::Carrier(media(2, 0, &[1; 160])), t0);
    core.handle(Input::Carrier(media(4, 40, &[3; 160])), t0);
    core.handle(Input::Carrier(media(3, 20, &[2; 160])), t0);
    let actions = without_measures(drain(&mut core));
    let appended: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Agent(AgentOut::Append { audio }) => Some(audio.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        appended,
        vec![
            STANDARD.encode([1; 160]),
            STANDARD.encode([2; 160]),
            STANDARD.encode([3; 160])
        ]
    );
    let recorded: Vec<(u64, u8)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Record {
                track: Track::Caller,
                at,
                audio,
            } => Some((*at, audio[0])),
            _ => None,
        })
        .collect();
    assert_eq!(recorded, vec![(0, 1), (160, 2), (320, 3)]);
    assert_eq!(core.jitter_stats().reordered, 1);
}

#[test]
fn agent_audio_is_marked_played_in_order_and_barge_in_truncates_to_what_was_heard() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcmu, t0);
    // Five 20 ms chunks arrive at once; they play one after the other.
    for _ in 0..5 {
        core.handle(Input::Agent(delta("item-1", 160)), t0);
    }
    let actions = without_measures(drain(&mut core));
    let marks: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Carrier(CarrierOut::Mark { mark }) => Some(mark.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(marks, vec!["a1", "a2", "a3", "a4", "a5"]);
    let placed: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Record {
                track: Track::Agent,
                at,
                ..
            } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(
        placed,
        vec![0, 160, 320, 480, 640],
        "placed where they will be played"
    );
    // The caller heard two chunks (40 ms) when they start speaking at 45 ms.
    core.handle(Input::Carrier(mark("a1")), t0 + Duration::from_millis(20));
    core.handle(Input::Carrier(mark("a2")), t0 + Duration::from_millis(40));
    let t = t0 + Duration::from_millis(45);
    core.handle(
        Input::Agent(AgentIn::SpeechStarted {
            audio_start_ms: Some(45),
            item_id: Some("u1".into()),
        }),
        t,
    );
    let actions = drain(&mut core);
    assert_eq!(
        actions,
        vec![
            Action::Agent(AgentOut::Truncate {
                item_id: "item-1".into(),
                content_index: 0,
                audio_end_ms: 40
            }),
            Action::Carrier(CarrierOut::Clear),
            Action::RecordCut {
                track: Track::Agent,
                from: 360
            },
            Action::Measure(Measure::BargeIn(Duration::ZERO)),
        ]
    );
    // Late deltas of the interrupted item are dropped; the transcript says interrupted.
    core.handle(Input::Agent(delta("item-1", 160)), t);
    assert!(drain(&mut core).is_empty());
    core.handle(
        Input::Agent(AgentIn::TranscriptDone {
            item_id: Some("item-1".into()),
            transcript: "Goedemiddag, ik bel over".into(),
        }),
        t,
    );
    assert_eq!(
        drain(&mut core),
        vec![Action::Turn(TurnRecord {
            role: "agent",
            text: "Goedemiddag, ik bel over".into(),
            start_ms: 0,
            end_ms: 40,
            interrupted: true
        })]
    );
    // Speech while nothing is playing is no barge-in.
    core.handle(
        Input::Agent(AgentIn::SpeechStarted {
            audio_start_ms: None,
            item_id: None,
        }),
        t,
    );
    assert!(drain(&mut core).is_empty());
}

#[test]
fn voice_to_voice_and_first_audio_are_measured() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcmu, t0);
    core.handle(
        Input::Agent(delta("greet", 160)),
        t0 + Duration::from_millis(700),
    );
    let m: Vec<Measure> = drain(&mut core)
        .into_iter()
        .filter_map(|a| match a {
            Action::Measure(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(
        m.contains(&Measure::FirstAudio(Duration::from_millis(700))),
        "{m:?}"
    );
    let stop = t0 + Duration::from_secs(5);
    core.handle(
        Input::Agent(AgentIn::SpeechStopped {
            audio_end_ms: None,
            item_id: None,
        }),
        stop,
    );
    core.handle(
        Input::Agent(delta("reply", 160)),
        stop + Duration::from_millis(850),
    );
    let m: Vec<Measure> = drain(&mut core)
        .into_iter()
        .filter_map(|a| match a {
            Action::Measure(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(
        m.contains(&Measure::VoiceToVoice(Duration::from_millis(850))),
        "{m:?}"
    );
}

#[test]
fn a_silent_agent_is_nudged_then_apologises_then_the_call_ends() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcmu, t0);
    core.handle(Input::Agent(delta("greet", 160)), t0);
    drain(&mut core);
    let stop = t0 + Duration::from_secs(3);
    core.handle(
        Input::Agent(AgentIn::SpeechStopped {
            audio_end_ms: None,
            item_id: None,
        }),
        stop,
    );
    assert_eq!(core.next_deadline(), Some(stop + Duration::from_secs(6)));
    core.handle(Input::Tick, stop + Duration::from_secs(5));
    assert!(drain(&mut core).is_empty());
    core.handle(Input::Tick, stop + Duration::from_secs(6));
    assert_eq!(
        drain(&mut core),
        vec![Action::Agent(AgentOut::ResponseCreate { response: None })]
    );
    core.handle(Input::Tick, stop + Duration::from_secs(12));
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Action::Agent(AgentOut::ResponseCreate {
            response: Some(_)
        })]
    ));
    core.handle(Input::Tick, stop + Duration::from_secs(18));
    assert_eq!(
        drain(&mut core),
        vec![Action::Hangup {
            reason: "agent_silent"
        }]
    );
    assert_eq!(core.next_deadline(), None);
    // Audio in time resets the timer.
    let mut core = answered(Codec::Pcmu, t0);
    core.handle(
        Input::Agent(AgentIn::SpeechStopped {
            audio_end_ms: None,
            item_id: None,
        }),
        stop,
    );
    core.handle(
        Input::Agent(delta("reply", 160)),
        stop + Duration::from_secs(2),
    );
    drain(&mut core);
    core.handle(Input::Tick, stop + Duration::from_secs(30));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn end_call_says_goodbye_then_hangs_up_once_heard() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcmu, t0);
    let t1 = t0 + Duration::from_secs(10);
    core.handle(
        Input::Agent(AgentIn::FunctionCall {
            call_id: "c1".into(),
            name: "end_call".into(),
            arguments: "{}".into(),
        }),
        t1,
    );
    assert_eq!(
        drain(&mut core),
        vec![Action::Tool {
            call_id: "c1".into(),
            call: Ok(crate::agent::ToolCall::EndCall)
        }]
    );
    core.handle(
        Input::ToolResult {
            call_id: "c1".into(),
            output: json!({"ok": true}),
        },
        t1,
    );
    assert_eq!(
        drain(&mut core),
        vec![
            Action::Agent(AgentOut::tool_output("c1", &json!({"ok": true}))),
            Action::Agent(AgentOut::ResponseCreate { response: None }),
        ]
    );
    core.handle(Input::Agent(delta("bye", 160)), t1);
    core.handle(Input::Agent(delta("bye", 160)), t1);
    core.handle(Input::Agent(AgentIn::ResponseDone { response: None }), t1);
    drain(&mut core);
    core.handle(Input::Carrier(mark("a1")), t1 + Duration::from_millis(20));
    assert!(drain(&mut core).is_empty(), "still playing");
    core.handle(Input::Carrier(mark("a2")), t1 + Duration::from_millis(40));
    assert_eq!(
        drain(&mut core),
        vec![Action::Hangup { reason: "end_call" }]
    );
    // Without marks coming back, the goodbye limit hangs up.
    let mut core = answered(Codec::Pcmu, t0);
    core.handle(
        Input::Agent(AgentIn::FunctionCall {
            call_id: "c2".into(),
            name: "end_call".into(),
            arguments: "{}".into(),
        }),
        t1,
    );
    drain(&mut core);
    core.handle(Input::Tick, t1 + Duration::from_secs(15));
    assert_eq!(
        drain(&mut core),
        vec![Action::Hangup { reason: "end_call" }]
    );
}

#[test]
fn dtmf_goes_to_the_agent_and_pcma_is_recorded_as_ulaw() {
    let t0 = Instant::now();
    let mut core = CallCore::new(
        CoreConfig {
            greet: false,
            ..CoreConfig::default()
        },
        Codec::Pcmu,
    );
    core.handle(Input::Carrier(start("PCMA")), t0);
    assert_eq!(drain(&mut core), vec![Action::CodecChanged(Codec::Pcma)]);
    let dtmf = CarrierIn::parse(r#"{"event":"dtmf","sequence_number":"5","dtmf":{"digit":"7"}}"#)
        .expect("dtmf");
    core.handle(Input::Carrier(dtmf), t0);
    assert_eq!(
        drain(&mut core),
        vec![
            Action::Agent(AgentOut::user_text(
                "(The caller pressed 7 on the phone keypad.)"
            )),
            Action::Agent(AgentOut::ResponseCreate { response: None }),
        ]
    );
    // A-law silence (0xD5) is recorded as µ-law silence-ish (0xFF or 0x7F family).
    core.handle(Input::Carrier(media(2, 0, &[0xD5; 160])), t0);
    let rec = drain(&mut core).into_iter().find_map(|a| match a {
        Action::Record {
            track: Track::Caller,
            audio,
            ..
        } => Some(audio),
        _ => None,
    });
    let rec = rec.expect("recorded");
    assert!(
        rec.iter()
            .all(|b| crate::g711::ulaw_to_linear(*b).abs() <= 8),
        "{:?}",
        &rec[..4]
    );
    // Stop flushes and ends.
    core.handle(Input::Carrier(media(6, 60, &[0xD5; 160])), t0);
    core.handle(
        Input::Carrier(
            CarrierIn::parse(r#"{"event":"stop","sequence_number":"9"}"#).expect("stop"),
        ),
        t0,
    );
    assert!(core.ended());
    assert!(drain(&mut core)
        .iter()
        .any(|a| matches!(a, Action::Record { at: 480, .. })));
}

#[test]
fn an_operator_takes_over_speaks_paced_and_hands_back() {
    let t0 = Instant::now();
    let mut core = answered(Codec::Pcma, t0);
    core.handle(Input::Agent(delta("greet", 160)), t0);
    drain(&mut core);
    let t1 = t0 + Duration::from_millis(10);
    core.handle(Input::OperatorJoins(OperatorMode::Takeover), t1);
    let actions = drain(&mut core);
    assert_eq!(actions[0], Action::Agent(AgentOut::ResponseCancel));
    assert!(
        actions.contains(&Action::Carrier(CarrierOut::Clear)),
        "queued agent audio cleared"
    );
    assert!(actions.contains(&Action::RecordCut {
        track: Track::Agent,
        from: 80
    }));
    // The agent's audio and new responses are suppressed meanwhile.
    core.handle(Input::Agent(delta("reply", 160)), t1);
    assert!(drain(&mut core).is_empty());
    core.handle(
        Input::Agent(AgentIn::ResponseCreated { response: None }),
        t1,
    );
    assert_eq!(
        drain(&mut core),
        vec![Action::Agent(AgentOut::ResponseCancel)]
    );
    // 30 ms of operator audio: one 20 ms frame now, the rest waits for more.
    core.handle(Input::OperatorAudio(vec![1000; 240]), t1);
    core.handle(Input::OperatorTick, t1);
    let out = drain(&mut core);
    let sent: Vec<&CarrierOut> = out
        .iter()
        .filter_map(|a| match a {
            Action::Carrier(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    let CarrierOut::Media { media } = sent[0] else {
        panic!("{sent:?}")
    };
    let bytes = STANDARD.decode(&media.payload).expect("b64");
    assert_eq!(
        bytes,
        vec![g711::linear_to_alaw(1000); 160],
        "encoded to the call's codec"
    );
    assert!(
        out.iter().any(|a| matches!(
            a,
            Action::Record {
                track: Track::Agent,
                ..
            }
        )),
        "recorded on the agent channel"
    );
    core.handle(Input::OperatorTick, t1 + Duration::from_millis(20));
    assert!(drain(&mut core).is_empty(), "80 samples are not a frame");
    // The caller speaks; then the operator leaves and the agent is told.
    core.handle(
        Input::Agent(AgentIn::InputTranscript {
            item_id: None,
            transcript: "ik betaal morgen".into(),
        }),
        t1,
    );
    drain(&mut core);
    core.handle(Input::OperatorLeaves, t1 + Duration::from_secs(5));
    let back = drain(&mut core);
    match &back[0] {
        Action::Agent(AgentOut::ItemCreate { item }) => {
            let text = item["content"][0]["text"].as_str().unwrap_or_default();
            assert!(text.contains("\"ik betaal morgen\""), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        back[1],
        Action::Agent(AgentOut::ResponseCreate { response: None })
    );
    core.handle(
        Input::Agent(delta("after", 160)),
        t1 + Duration::from_secs(5),
    );
    assert!(
        drain(&mut core)
            .iter()
            .any(|a| matches!(a, Action::Carrier(CarrierOut::Media { .. }))),
        "the agent speaks again"
    );
}
