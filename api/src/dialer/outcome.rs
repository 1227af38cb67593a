//! What a finished call of a campaign was (its disposition, from the call's facts
//! alone), and what the dialler does next with the phone (the retry policy).

use crate::campaigns::settings::Pacing;
use crate::model::{Call, CallStatus, EntryState, Millis};

/// Dispositions, as stored on attempts and counted in the stats.
pub const DISPOSITIONS: [&str; 12] = [
    "completed",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "rejected",
    "opted_out",
    "transferred",
    "taken_over",
    "abandoned",
    "unknown",
    "not_dialed",
];

/// The disposition of an ended call. `None` while it is live.
///
/// Answered calls: the person opted out, was transferred, or was taken over by an
/// operator (in that order); `abandoned` when the agent never reached them (the media
/// stream never started); else `completed`. Unanswered: answering machines are
/// `voicemail`, a refusal by the callee's side `rejected` (SIP 403/603, `call_rejected`).
pub fn disposition(call: &Call) -> Option<&'static str> {
    let f = &call.facts;
    Some(match call.status {
        s if s.is_live() => return None,
        // Its appliance died: what happened after that is not known.
        _ if call.hangup_cause.as_deref() == Some(crate::calls::NODE_LOST) => "unknown",
        CallStatus::Machine => "voicemail",
        CallStatus::Busy => "busy",
        CallStatus::NoAnswer => "no_answer",
        CallStatus::Failed => {
            let sip = f.sip_hangup_cause.as_deref().unwrap_or_default();
            if call.hangup_cause.as_deref() == Some("call_rejected") || sip == "403" || sip == "603"
            {
                "rejected"
            } else {
                "failed"
            }
        }
        _ if call.amd_result.as_deref() == Some("machine") => "voicemail",
        _ if f.opted_out_in_call => "opted_out",
        _ if f.transferred => "transferred",
        _ if f.taken_over => "taken_over",
        _ if call.answered_at.is_some() && !agent_reached(call) => "abandoned",
        _ => "completed",
    })
}

/// Whether the agent reached the person: the media stream connected (by the
/// appliance's own account or the carrier's `streaming.started`) and the bridge did
/// not hang up because the agent could not be reached or stayed silent.
fn agent_reached(call: &Call) -> bool {
    let f = &call.facts;
    let connected = f.media_connected_at.is_some() || f.streaming_started_at.is_some();
    let failed = matches!(
        f.hangup_requested.as_deref(),
        Some("agent_unavailable" | "agent_silent")
    );
    connected && !failed
}

/// Whether a disposition counts as answered by a person (the abandon rate's base).
pub fn answered_by_person(disposition: &str) -> bool {
    matches!(
        disposition,
        "completed" | "opted_out" | "transferred" | "taken_over" | "abandoned"
    )
}

/// Where the phone goes after an attempt with `disposition` that ended at `ended_at`
/// (its `attempts` already counted): `done` with the reason, or `waiting` until the
/// retry delay of that outcome. Unknown, abandoned and not-dialled attempts follow the
/// `failed` rule; a person reached is never called again by the campaign.
pub fn next_step(
    disposition: &str,
    attempts: i64,
    ended_at: Millis,
    pacing: &Pacing,
) -> (EntryState, Option<Millis>, String) {
    let r = &pacing.retry;
    let rule = match disposition {
        "no_answer" => r.no_answer,
        "busy" => r.busy,
        "voicemail" => r.voicemail,
        "failed" | "unknown" | "abandoned" | "not_dialed" => r.failed,
        done => return (EntryState::Done, None, done.to_owned()),
    };
    if !rule.retry {
        return (EntryState::Done, None, disposition.to_owned());
    }
    if attempts >= i64::from(pacing.max_attempts) && disposition != "not_dialed" {
        return (EntryState::Done, None, "max_attempts".to_owned());
    }
    let at = ended_at + i64::from(rule.after_minutes) * 60_000;
    (EntryState::Waiting, Some(at), disposition.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Call, Direction};

    fn ended(status: CallStatus) -> Call {
        let mut c = Call::new("c1", Direction::Outbound, "+3247".into(), 0);
        c.status = status;
        c.ended_at = Some(10);
        c
    }

    #[test]
    fn dispositions_come_from_the_facts() {
        assert_eq!(disposition(&ended(CallStatus::Streaming)), None);
        assert_eq!(disposition(&ended(CallStatus::Busy)), Some("busy"));
        assert_eq!(disposition(&ended(CallStatus::Machine)), Some("voicemail"));
        let mut rejected = ended(CallStatus::Failed);
        rejected.facts.sip_hangup_cause = Some("603".into());
        assert_eq!(disposition(&rejected), Some("rejected"));
        let mut answered = ended(CallStatus::Ended);
        answered.answered_at = Some(1);
        assert_eq!(
            disposition(&answered),
            Some("abandoned"),
            "no agent reached them"
        );
        answered.facts.media_connected_at = Some(2);
        assert_eq!(disposition(&answered), Some("completed"));
        answered.facts.hangup_requested = Some("agent_unavailable".into());
        assert_eq!(
            disposition(&answered),
            Some("abandoned"),
            "the agent never came"
        );
        answered.facts.hangup_requested = None;
        answered.facts.taken_over = true;
        assert_eq!(disposition(&answered), Some("taken_over"));
        answered.facts.opted_out_in_call = true;
        assert_eq!(disposition(&answered), Some("opted_out"));
        answered.hangup_cause = Some("node_lost".into());
        assert_eq!(
            disposition(&answered),
            Some("unknown"),
            "its appliance died: what happened after is not known"
        );
    }

    #[test]
    fn the_retry_policy_decides_the_next_dial() {
        let p = Pacing::default();
        assert_eq!(
            next_step("busy", 1, 1_000, &p),
            (
                EntryState::Waiting,
                Some(1_000 + 30 * 60_000),
                "busy".into()
            )
        );
        assert_eq!(
            next_step("voicemail", 1, 0, &p),
            (EntryState::Done, None, "voicemail".into())
        );
        assert_eq!(
            next_step("no_answer", 3, 0, &p),
            (EntryState::Done, None, "max_attempts".into())
        );
        assert_eq!(next_step("completed", 1, 0, &p).0, EntryState::Done);
        assert_eq!(next_step("unknown", 1, 0, &p).1, Some(60 * 60_000));
    }
}
