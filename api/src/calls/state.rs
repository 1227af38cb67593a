//! The call state machine, sans-IO: webhook events update the facts of a call, and its
//! status is derived from those facts alone. Webhooks may arrive duplicated, late or in
//! any order, so nothing here depends on order: every timestamp keeps the earliest
//! report, lists are kept sorted, and the status is a function of the facts.
//!
//! ```text
//!   dialing ──initiated──▶ ringing ──answered──▶ answered ──streaming.started──▶ streaming
//!      │                      │                      │                              │
//!      └──────────────────────┴─────── hangup ───────┴──────────────────────────────┘
//!                                        ▼
//!        ended (was answered) · busy · no_answer · failed · machine (AMD + policy)
//! ```
//!
//! A failed dial is `failed` before any webhook. `machine` wins once detection said
//! so on a call whose policy is to hang up on machines.

use crate::integrations::telnyx::events::{Event, EventKind, Payload};
use crate::model::{
    Call, CallFacts, CallStatus, CarrierRecording, Clock, Direction, Millis, StatusChange,
};

/// What the caller of [`apply`] should do on the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Hang up (`reason`: `machine`).
    Hangup { reason: &'static str },
}

fn earliest(slot: &mut Option<Millis>, at: Millis) {
    *slot = Some(slot.map_or(at, |t| t.min(at)));
}

/// Applies one event to the call's facts and re-derives its status and timeline.
/// Returns what to do on the carrier (only while the call is live).
pub fn apply(call: &mut Call, event: &Event) -> Vec<Action> {
    let at = event.occurred_at;
    let p = &event.payload;
    let f = &mut call.facts;
    let mut actions = Vec::new();
    match event.kind {
        EventKind::Initiated => {
            earliest(&mut f.initiated_at, at);
            if f.from.is_none() {
                f.from.clone_from(&p.from);
            }
        }
        EventKind::Answered => earliest(&mut call.answered_at, at),
        EventKind::StreamingStarted => earliest(&mut f.streaming_started_at, at),
        EventKind::StreamingStopped => earliest(&mut f.streaming_stopped_at, at),
        EventKind::StreamingFailed => {
            earliest(&mut f.streaming_stopped_at, at);
            let reason = p.failure_reason.clone().unwrap_or_else(|| "unknown".into());
            // Keep the smallest reason so duplicates in any order agree.
            if f.streaming_error.as_ref().is_none_or(|r| reason < *r) {
                f.streaming_error = Some(reason);
            }
        }
        EventKind::Hangup => hangup(call, at, p),
        EventKind::MachineDetectionEnded => {
            let result = p.result.clone().unwrap_or_else(|| "not_sure".into());
            // machine > human > not_sure when reports disagree: the safer reading wins.
            let rank = |r: &str| match r {
                "machine" => 2,
                "human" => 1,
                _ => 0,
            };
            if call
                .amd_result
                .as_deref()
                .is_none_or(|r| rank(&result) > rank(r))
            {
                call.amd_result = Some(result);
            }
            if call.amd_result.as_deref() == Some("machine")
                && f.hangup_on_machine
                && call.ended_at.is_none()
            {
                actions.push(Action::Hangup { reason: "machine" });
            }
        }
        EventKind::Dtmf => {
            if let Some(d) = &p.digit {
                let entry = (at, d.clone());
                if let Err(i) = f.dtmf.binary_search(&entry) {
                    f.dtmf.insert(i, entry);
                }
            }
        }
        EventKind::RecordingSaved => recording_saved(f, p),
        EventKind::Bridged | EventKind::Other => {}
    }
    refresh(call);
    actions
}

/// The recording URLs of a `call.recording.saved` payload (`{"mp3": url, "wav": url}`).
fn recording_urls(p: &crate::integrations::telnyx::events::Payload) -> Vec<String> {
    [&p.recording_urls, &p.public_recording_urls]
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|m| m.values().filter_map(|v| v.as_str().map(str::to_owned)))
        .collect()
}

/// The first hang-up report wins (the earliest; the smallest cause on a tie), so
/// duplicates in any order agree.
fn hangup(call: &mut Call, at: Millis, p: &Payload) {
    let cause = p
        .hangup_cause
        .clone()
        .unwrap_or_else(|| "unspecified".into());
    let first = match call.ended_at {
        None => true,
        Some(t) => at < t || (at == t && call.hangup_cause.as_ref().is_some_and(|c| cause < *c)),
    };
    if first {
        call.ended_at = Some(at);
        call.hangup_cause = Some(cause);
        call.facts.hangup_source.clone_from(&p.hangup_source);
        call.facts.sip_hangup_cause.clone_from(&p.sip_hangup_cause);
        if p.call_quality_stats.is_some() {
            call.facts.quality.clone_from(&p.call_quality_stats);
        }
    }
}

/// The carrier's own recording: its URLs (merged), times and channels.
fn recording_saved(f: &mut CallFacts, p: &Payload) {
    let urls = recording_urls(p);
    let rec = f
        .carrier_recording
        .get_or_insert_with(CarrierRecording::default);
    for u in urls {
        if !rec.urls.contains(&u) {
            rec.urls.push(u);
        }
    }
    rec.urls.sort();
    if let Some(t) = p
        .recording_started_at
        .as_deref()
        .and_then(crate::time::parse_rfc3339_millis)
    {
        earliest(&mut rec.started_at, t);
    }
    if let Some(t) = p
        .recording_ended_at
        .as_deref()
        .and_then(crate::time::parse_rfc3339_millis)
    {
        earliest(&mut rec.ended_at, t);
    }
    if rec.channels.is_none() {
        rec.channels.clone_from(&p.channels);
    }
}

/// The status the facts say.
pub fn derive_status(call: &Call) -> CallStatus {
    let f = &call.facts;
    let machine = f.hangup_on_machine && call.amd_result.as_deref() == Some("machine");
    if f.dial_error.is_some() && call.answered_at.is_none() && f.initiated_at.is_none() {
        return CallStatus::Failed;
    }
    if machine {
        return CallStatus::Machine;
    }
    if call.ended_at.is_some() {
        if call.answered_at.is_some() {
            return CallStatus::Ended;
        }
        return match call.hangup_cause.as_deref() {
            Some("user_busy") => CallStatus::Busy,
            Some("no_answer" | "timeout" | "originator_cancel" | "normal_clearing") => {
                CallStatus::NoAnswer
            }
            _ => CallStatus::Failed,
        };
    }
    let streaming = f
        .streaming_started_at
        .is_some_and(|s| f.streaming_stopped_at.is_none_or(|e| e < s));
    if streaming {
        CallStatus::Streaming
    } else if call.answered_at.is_some() {
        CallStatus::Answered
    } else if f.initiated_at.is_some() {
        CallStatus::Ringing
    } else {
        CallStatus::Dialing
    }
}

/// Re-derives the status and the timeline from the facts.
///
/// The timeline is in causal order (dialing, ringing, answered, streaming, the end), never
/// sorted by time: `dialing` is stamped by our clock and everything after it by the
/// carrier's `occurred_at`, and the two disagree by milliseconds to seconds in real life
/// and by days when an old event is replayed. Each entry keeps the timestamp its clock
/// reported, and says which clock that was.
pub fn refresh(call: &mut Call) {
    let status = derive_status(call);
    let f = &call.facts;
    let change = |status: CallStatus, at: Millis, clock: Clock| StatusChange { status, at, clock };
    // An inbound call starts when the carrier says it was initiated.
    let start_clock = if call.direction == Direction::Inbound {
        Clock::Carrier
    } else {
        Clock::Appliance
    };
    let mut timeline = vec![change(CallStatus::Dialing, call.started_at, start_clock)];
    let steps = [
        (CallStatus::Ringing, f.initiated_at),
        (CallStatus::Answered, call.answered_at),
        (CallStatus::Streaming, f.streaming_started_at),
    ];
    timeline.extend(
        steps
            .into_iter()
            .filter_map(|(s, at)| at.map(|at| change(s, at, Clock::Carrier))),
    );
    if !status.is_live() {
        let end = call
            .ended_at
            .or(call.answered_at)
            .or(f.initiated_at)
            .map(|at| (at, Clock::Carrier));
        let (at, clock) = end.unwrap_or((call.started_at, start_clock));
        timeline.push(change(status, at, clock));
    }
    call.status = status;
    call.timeline = timeline;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CallFacts;
    use proptest::strategy::Strategy;

    fn call() -> Call {
        Call {
            facts: CallFacts {
                hangup_on_machine: true,
                ..CallFacts::default()
            },
            ..Call::new("c1", Direction::Outbound, "+32475123456".into(), 1000)
        }
    }

    fn ev(kind: EventKind, at: i64, payload: Payload) -> Event {
        Event {
            id: format!("{kind:?}-{at}"),
            event_type: kind.label().into(),
            kind,
            occurred_at: at,
            payload,
        }
    }

    fn hangup(at: i64, cause: &str) -> Event {
        ev(
            EventKind::Hangup,
            at,
            Payload {
                hangup_cause: Some(cause.into()),
                ..Payload::default()
            },
        )
    }

    fn run(events: &[Event]) -> Call {
        let mut c = call();
        for e in events {
            apply(&mut c, e);
        }
        c
    }

    #[test]
    fn a_normal_call_walks_the_states() {
        let mut c = call();
        let steps = [
            (
                ev(EventKind::Initiated, 1100, Payload::default()),
                CallStatus::Ringing,
            ),
            (
                ev(EventKind::Answered, 5000, Payload::default()),
                CallStatus::Answered,
            ),
            (
                ev(EventKind::StreamingStarted, 5100, Payload::default()),
                CallStatus::Streaming,
            ),
            (hangup(65_000, "normal_clearing"), CallStatus::Ended),
        ];
        for (e, want) in steps {
            apply(&mut c, &e);
            assert_eq!(c.status, want);
        }
        let tl: Vec<CallStatus> = c.timeline.iter().map(|s| s.status).collect();
        assert_eq!(
            tl,
            vec![
                CallStatus::Dialing,
                CallStatus::Ringing,
                CallStatus::Answered,
                CallStatus::Streaming,
                CallStatus::Ended
            ]
        );
    }

    #[test]
    fn unanswered_endings() {
        let init = ev(EventKind::Initiated, 1100, Payload::default());
        assert_eq!(
            run(&[init.clone(), hangup(9000, "user_busy")]).status,
            CallStatus::Busy
        );
        assert_eq!(
            run(&[init.clone(), hangup(9000, "timeout")]).status,
            CallStatus::NoAnswer
        );
        assert_eq!(
            run(&[init.clone(), hangup(9000, "call_rejected")]).status,
            CallStatus::Failed
        );
        let amd = ev(
            EventKind::MachineDetectionEnded,
            6000,
            Payload {
                result: Some("machine".into()),
                ..Payload::default()
            },
        );
        let mut c = call();
        apply(&mut c, &init);
        apply(&mut c, &ev(EventKind::Answered, 5000, Payload::default()));
        assert_eq!(
            apply(&mut c, &amd),
            vec![Action::Hangup { reason: "machine" }]
        );
        apply(&mut c, &hangup(7000, "normal_clearing"));
        assert_eq!(c.status, CallStatus::Machine);
        assert_eq!(apply(&mut c, &amd), vec![], "no second hang-up once ended");
        let mut keep = call();
        keep.facts.hangup_on_machine = false;
        assert!(apply(&mut keep, &amd).is_empty());
        assert_eq!(keep.amd_result.as_deref(), Some("machine"));
    }

    fn story() -> Vec<Event> {
        vec![
            ev(EventKind::Initiated, 1100, Payload::default()),
            ev(EventKind::Answered, 5000, Payload::default()),
            ev(EventKind::StreamingStarted, 5100, Payload::default()),
            ev(
                EventKind::Dtmf,
                7000,
                Payload {
                    digit: Some("1".into()),
                    ..Payload::default()
                },
            ),
            ev(
                EventKind::Dtmf,
                8000,
                Payload {
                    digit: Some("#".into()),
                    ..Payload::default()
                },
            ),
            ev(EventKind::StreamingStopped, 64_000, Payload::default()),
            hangup(65_000, "normal_clearing"),
            ev(
                EventKind::RecordingSaved,
                66_000,
                Payload {
                    recording_urls: Some(
                        serde_json::json!({"mp3": "https://r/1.mp3", "wav": "https://r/1.wav"}),
                    ),
                    ..Payload::default()
                },
            ),
        ]
    }

    proptest::proptest! {
        #[test]
        fn shuffled_and_repeated_webhooks_give_the_same_call(
            order in proptest::strategy::Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
            repeats in proptest::collection::vec(0..8usize, 0..6),
        ) {
            let events = story();
            let expected = run(&events);
            let delivered: Vec<Event> = order
                .iter()
                .chain(repeats.iter())
                .map(|&i| events[i].clone())
                .collect();
            proptest::prop_assert_eq!(run(&delivered), expected);
        }
    }

    #[test]
    fn any_order_and_duplicates_give_the_same_call() {
        let events = story();
        let expected = run(&events);
        assert_eq!(expected.status, CallStatus::Ended);
        // Every rotation, the reverse, and each with every event delivered twice.
        for k in 0..events.len() {
            let mut order = events.clone();
            order.rotate_left(k);
            assert_eq!(run(&order), expected, "rotation {k}");
            order.reverse();
            assert_eq!(run(&order), expected, "reverse of rotation {k}");
            let doubled: Vec<Event> = order.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
            assert_eq!(run(&doubled), expected, "duplicated, rotation {k}");
        }
    }

    /// The carrier's clock ahead of ours or behind it, by minutes and by days: the
    /// timeline still walks the states in order and keeps every reported time.
    #[test]
    fn the_timeline_is_causal_whatever_the_carrier_clock_says() {
        const MINUTE: i64 = 60_000;
        const DAY: i64 = 1440 * MINUTE;
        let ours = 1_000_000 * DAY; // our clock when we dialled
        for skew in [-3 * DAY, -5 * MINUTE, -1, 0, 1, 5 * MINUTE, 3 * DAY] {
            let carrier = ours + skew;
            let mut c = Call::new("c1", Direction::Outbound, "+32475123456".into(), ours);
            let events = [
                ev(EventKind::Initiated, carrier + 100, Payload::default()),
                ev(EventKind::Answered, carrier + 4000, Payload::default()),
                ev(
                    EventKind::StreamingStarted,
                    carrier + 4100,
                    Payload::default(),
                ),
                hangup(carrier + 64_000, "normal_clearing"),
            ];
            for e in events.iter().rev() {
                apply(&mut c, e);
            }
            let got: Vec<(CallStatus, Millis, Clock)> = c
                .timeline
                .iter()
                .map(|s| (s.status, s.at, s.clock))
                .collect();
            assert_eq!(
                got,
                vec![
                    (CallStatus::Dialing, ours, Clock::Appliance),
                    (CallStatus::Ringing, carrier + 100, Clock::Carrier),
                    (CallStatus::Answered, carrier + 4000, Clock::Carrier),
                    (CallStatus::Streaming, carrier + 4100, Clock::Carrier),
                    (CallStatus::Ended, carrier + 64_000, Clock::Carrier),
                ],
                "carrier clock {skew} ms off ours"
            );
            // A call that never got past ringing ends after it rang, whatever the clocks.
            let mut busy = Call::new("c2", Direction::Outbound, "+32475123456".into(), ours);
            apply(&mut busy, &hangup(carrier + 9000, "user_busy"));
            apply(
                &mut busy,
                &ev(EventKind::Initiated, carrier, Payload::default()),
            );
            let order: Vec<CallStatus> = busy.timeline.iter().map(|s| s.status).collect();
            assert_eq!(
                order,
                vec![CallStatus::Dialing, CallStatus::Ringing, CallStatus::Busy],
                "skew {skew}"
            );
        }
    }

    #[test]
    fn a_failed_dial_ends_on_our_clock_and_an_inbound_call_starts_on_the_carriers() {
        let mut failed = call();
        failed.facts.dial_error = Some("refused".into());
        refresh(&mut failed);
        let tl: Vec<(CallStatus, Clock)> = failed
            .timeline
            .iter()
            .map(|s| (s.status, s.clock))
            .collect();
        assert_eq!(
            tl,
            vec![
                (CallStatus::Dialing, Clock::Appliance),
                (CallStatus::Failed, Clock::Appliance)
            ]
        );
        let mut inbound = Call::new("c3", Direction::Inbound, "+32475123456".into(), 5000);
        apply(
            &mut inbound,
            &ev(EventKind::Initiated, 5000, Payload::default()),
        );
        assert_eq!(inbound.timeline[0].clock, Clock::Carrier);
    }
}
