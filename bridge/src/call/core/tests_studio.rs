//! Agent Studio through the same core: the browser as the caller.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::*;
use crate::agent::{AgentIn, AgentOut};
use crate::browser::studio::{StudioIn, StudioOut};

/// `ms` of 24 kHz PCM16 as base64.
fn pcm24(ms: usize) -> String {
    STANDARD.encode(vec![0x10; ms * 48])
}

fn delta(item: &str, ms: usize) -> AgentIn {
    AgentIn::AudioDelta {
        item_id: item.into(),
        delta: pcm24(ms),
    }
}

fn drain(core: &mut CallCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll()).collect()
}

fn browser(actions: &[Action]) -> Vec<StudioOut> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Browser(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn opened(t0: Instant) -> CallCore {
    let mut core = CallCore::studio(CoreConfig {
        greet: false,
        ..CoreConfig::default()
    });
    core.handle(Input::BrowserOpened, t0);
    core.handle(Input::AgentUp, t0);
    assert_eq!(core.phase(), Phase::Live);
    assert!(drain(&mut core).is_empty(), "no greeting in the Studio");
    core
}

#[test]
fn browser_audio_goes_to_the_agent_as_is_and_is_recorded_at_8_khz() {
    let t0 = Instant::now();
    let mut core = opened(t0);
    let audio = pcm24(20);
    core.handle(
        Input::Browser(StudioIn::Audio {
            audio: audio.clone(),
        }),
        t0 + Duration::from_millis(20),
    );
    let actions = drain(&mut core);
    assert!(actions.contains(&Action::Agent(AgentOut::Append { audio })));
    let recorded: Vec<usize> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Record {
                track: Track::Caller,
                audio,
                ..
            } => Some(audio.len()),
            _ => None,
        })
        .collect();
    // 20 ms at 8 kHz (the resampler's filter delay keeps a few samples back).
    assert_eq!(recorded.len(), 1);
    assert!((150..=160).contains(&recorded[0]), "{recorded:?}");
    for bad in ["not base64!", "", "AAA"] {
        core.handle(
            Input::Browser(StudioIn::Audio { audio: bad.into() }),
            t0 + Duration::from_millis(40),
        );
        assert_eq!(
            drain(&mut core),
            vec![Action::Measure(Measure::Rejected(Rejection::Payload))],
            "{bad:?}"
        );
    }
}

#[test]
fn a_commit_asks_the_agent_and_the_reply_reports_its_latency() {
    let t0 = Instant::now();
    let mut core = opened(t0);
    let stop = t0 + Duration::from_secs(2);
    core.handle(Input::Browser(StudioIn::Commit), stop);
    assert_eq!(
        drain(&mut core),
        vec![
            Action::Agent(AgentOut::Commit),
            Action::Agent(AgentOut::ResponseCreate { response: None }),
        ]
    );
    let first = stop + Duration::from_millis(640);
    core.handle(Input::Agent(delta("i1", 100)), first);
    let actions = drain(&mut core);
    assert_eq!(
        browser(&actions),
        vec![
            StudioOut::FirstAudioDelta,
            StudioOut::Latency { ms: 640 },
            StudioOut::AgentSpeaking { speaking: true },
            StudioOut::AgentAudio { audio: pcm24(100) },
        ]
    );
    assert!(actions.contains(&Action::Measure(Measure::VoiceToVoice(
        Duration::from_millis(640)
    ))));
    core.handle(
        Input::Agent(AgentIn::ResponseDone { response: None }),
        first,
    );
    assert_eq!(
        browser(&drain(&mut core)),
        vec![StudioOut::AgentSpeaking { speaking: false }]
    );
}

#[test]
fn barge_in_truncates_to_what_the_browser_played_and_stops_it() {
    let t0 = Instant::now();
    let mut core = opened(t0);
    let t1 = t0 + Duration::from_secs(1);
    // 600 ms of agent audio generated at once; the browser plays it as it comes.
    for _ in 0..6 {
        core.handle(Input::Agent(delta("i1", 100)), t1);
    }
    drain(&mut core);
    let spoke = t1 + Duration::from_millis(250);
    core.handle(
        Input::Agent(AgentIn::SpeechStarted {
            audio_start_ms: None,
            item_id: None,
        }),
        spoke,
    );
    let actions = drain(&mut core);
    assert!(actions.contains(&Action::Agent(AgentOut::Truncate {
        item_id: "i1".into(),
        content_index: 0,
        audio_end_ms: 250,
    })));
    assert_eq!(
        browser(&actions),
        vec![
            StudioOut::BargeIn,
            StudioOut::AgentSpeaking { speaking: false }
        ]
    );
    assert!(actions.contains(&Action::RecordCut {
        track: Track::Agent,
        from: 10_000,
    }));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Carrier(_))),
        "no carrier frames in the Studio"
    );
    // What the agent still sends of the cut item is dropped.
    core.handle(Input::Agent(delta("i1", 100)), spoke);
    assert!(browser(&drain(&mut core)).is_empty());
    // Speech with nothing playing is no barge-in.
    core.handle(
        Input::Agent(AgentIn::SpeechStarted {
            audio_start_ms: None,
            item_id: None,
        }),
        spoke + Duration::from_secs(1),
    );
    assert!(browser(&drain(&mut core)).is_empty());
}

#[test]
fn the_agent_is_reconnected_once_then_the_session_ends() {
    let t0 = Instant::now();
    let mut core = opened(t0);
    core.handle(Input::AgentDown, t0);
    assert_eq!(drain(&mut core), vec![Action::ConnectAgent]);
    core.handle(Input::AgentUp, t0 + Duration::from_secs(1));
    let actions = drain(&mut core);
    assert!(actions.contains(&Action::Measure(Measure::AgentReconnected)));
    core.handle(Input::AgentDown, t0 + Duration::from_secs(2));
    assert_eq!(
        drain(&mut core),
        vec![Action::Hangup {
            reason: "agent_unavailable"
        }]
    );
    assert_eq!(core.phase(), Phase::HangingUp);
}
