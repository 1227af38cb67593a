//! The campaign dialler against the fake carrier, on an injected clock stepped through
//! simulated days (the dialler reads time only from its clock, so a week runs in
//! seconds): calling windows in each recipient's zone across a daylight-saving change,
//! a multi-zone prefix called only in the intersection, caps and pace never exceeded
//! (asserted on the dials the carrier received), retries per outcome, a DNC entry and
//! an opt-out stopping further dials, consent required, an interrupted dial reconciled
//! and never re-dialled blindly, and the auto-pause at the abandon threshold.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent5_api::model::{
    new_id, AttemptState, CallAttempt, Consent, DncEntry, DncSource, NewCustomer,
};
use agent5_api::store::SharedStore;
use agent5_bridge::CallHooks as _;
use agent5_e2e::fake_telnyx::FakeTelnyx;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;

mod dialer_rig;

use dialer_rig::*;

/// Whether `at` is between 08:00 and 21:00 in `zone`.
fn legal_in(zone: &str, at: i64) -> bool {
    let tz = TimeZone::get(zone).expect("zone");
    let local = Timestamp::from_millisecond(at).expect("ts").to_zoned(tz);
    let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
    (8 * 60..21 * 60).contains(&minute)
}

/// What each phone does when called, in order of its attempts.
fn script() -> HashMap<&'static str, Vec<&'static str>> {
    HashMap::from([
        // Brussels: no answer twice, then a conversation.
        ("+32470000001", vec!["no_answer", "no_answer", "completed"]),
        // New York: busy, then a conversation.
        ("+12125550101", vec!["busy", "completed"]),
        // Sydney: a conversation at once.
        ("+61255550101", vec!["completed"]),
        // Idaho's 208 2xx: America/Boise and America/Los_Angeles.
        ("+12082550101", vec!["completed"]),
        // No answer; put on the DNC list before its retry.
        ("+32470000002", vec!["no_answer", "completed"]),
        // Opts out during the call: never called again.
        ("+32470000003", vec!["opt_out", "completed"]),
    ])
}

/// A simulated week across the US daylight-saving change (Sunday 2027-11-07): every
/// dial inside 08:00-21:00 in each zone of the number, the multi-zone prefix only in
/// the intersection, caps and pace never exceeded, retries at their delays, a DNC entry
/// and an in-call opt-out stopping further dials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_week_respects_windows_caps_retries_and_opt_outs() {
    let start = ms("2027-11-03T00:00:00Z");
    let rig = rig(start, 10).await;
    let people = [
        ("Anna", "+32470000001", "BE"),
        ("Bob", "+12125550101", "US"),
        ("Chloe", "+61255550101", "AU"),
        ("Dan", "+12082550101", "US"),
        ("Eve", "+32470000002", "BE"),
        ("Finn", "+32470000003", "BE"),
    ];
    rig.store
        .upsert_customers(people.iter().map(|(n, p, c)| customer(n, p, c)).collect())
        .await
        .expect("customers");
    let c = rig
        .store
        .create_campaign(campaign(
            "Week",
            json!({ "max_concurrent": 2, "calls_per_second": 0.5, "max_per_hour": 4,
                    "max_attempts": 3, "cooldown_minutes": 30,
                    "retry": { "no_answer": {"retry": true, "after_minutes": 120},
                               "busy": {"retry": true, "after_minutes": 45},
                               "failed": {"retry": true, "after_minutes": 60},
                               "voicemail": {"retry": false} } }),
        ))
        .await
        .expect("campaign");

    let script = script();
    let mut handled = 0;
    let mut calls_of: HashMap<String, usize> = HashMap::new();
    let step = Duration::from_secs(60);
    let end = start + 7 * 86_400_000;
    while rig.now() < end {
        rig.dialer.tick().await.expect("tick");
        let tally = rig
            .store
            .attempt_tally(&c.id, rig.now() - 3_600_000)
            .await
            .expect("tally");
        assert!(tally.open <= 2, "concurrency cap exceeded at {}", rig.now());
        assert!(tally.started <= 4, "hourly cap exceeded at {}", rig.now());
        // The people answer (or not) a minute after the dial.
        rig.advance(step);
        let dials = rig.dials();
        for (call_id, to) in &dials[handled..] {
            let n = calls_of.entry(to.clone()).or_default();
            let what = script[to.as_str()].get(*n).copied().unwrap_or("completed");
            *n += 1;
            match what {
                "no_answer" => rig.end_unanswered(call_id, "timeout").await,
                "busy" => rig.end_unanswered(call_id, "user_busy").await,
                "opt_out" => {
                    rig.event(call_id, "call.answered", json!({})).await;
                    rig.event(call_id, "streaming.started", json!({})).await;
                    // What the agent's opt_out tool does: the DNC entry and the fact.
                    rig.store
                        .add_dnc(vec![DncEntry {
                            phone_e164: to.clone(),
                            reason: "asked during the call".into(),
                            source: DncSource::Call,
                            added_by: "agent".into(),
                            added_at: rig.now(),
                        }])
                        .await
                        .expect("dnc");
                    rig.telephony
                        .update(call_id, |c| c.facts.opted_out_in_call = true)
                        .await
                        .expect("fact");
                    rig.event(
                        call_id,
                        "call.hangup",
                        json!({ "hangup_cause": "normal_clearing" }),
                    )
                    .await;
                }
                _ => rig.answer_and_end(call_id, true).await,
            }
            if to == "+32470000002" {
                rig.store
                    .add_dnc(vec![DncEntry {
                        phone_e164: to.clone(),
                        reason: "national scrub".into(),
                        source: DncSource::Upload,
                        added_by: "ops".into(),
                        added_at: rig.now(),
                    }])
                    .await
                    .expect("dnc");
            }
        }
        handled = dials.len();
    }
    check_week(&rig, &c.id).await;
}

async fn check_week(rig: &Rig, campaign_id: &str) {
    let attempts = rig.attempts(campaign_id).await;
    let dials = rig.dials();

    assert_eq!(
        dials.len(),
        attempts.len(),
        "one carrier request per attempt"
    );
    let by_id: HashMap<&str, &CallAttempt> = attempts.iter().map(|a| (a.id.as_str(), a)).collect();
    for (id, to) in &dials {
        let a = by_id[id.as_str()];
        assert_eq!(&a.phone_e164, to);
        let zones: &[&str] = match &to[..4] {
            "+324" => &["Europe/Brussels"],
            "+121" => &["America/New_York"],
            "+612" => &["Australia/Sydney"],
            _ => &["America/Boise", "America/Los_Angeles"],
        };
        for z in zones {
            assert!(
                legal_in(z, a.started_at),
                "{to} dialled outside 08-21 in {z}"
            );
        }
    }
    let mut started: Vec<i64> = attempts.iter().map(|a| a.started_at).collect();
    started.sort_unstable();
    assert!(
        started.windows(2).all(|w| w[1] - w[0] >= 2000),
        "calls per second exceeded"
    );
    let of = |phone: &str| -> Vec<&CallAttempt> {
        attempts.iter().filter(|a| a.phone_e164 == phone).collect()
    };
    let anna = of("+32470000001");
    let dispositions: Vec<&str> = anna
        .iter()
        .filter_map(|a| a.disposition.as_deref())
        .collect();
    assert_eq!(dispositions, ["no_answer", "no_answer", "completed"]);
    for w in anna.windows(2) {
        let ended = w[0].ended_at.expect("ended");
        assert!(
            w[1].started_at >= ended + 120 * 60_000,
            "no-answer retry too early"
        );
    }
    let bob = of("+12125550101");
    assert_eq!(bob.len(), 2);
    assert!(bob[1].started_at >= bob[0].ended_at.expect("ended") + 45 * 60_000);
    assert_eq!(of("+61255550101").len(), 1);
    assert_eq!(of("+12082550101").len(), 1);
    assert_eq!(
        of("+32470000002").len(),
        1,
        "the DNC entry stopped the retry"
    );
    let finn = of("+32470000003");
    assert_eq!(finn.len(), 1);
    assert_eq!(finn[0].disposition.as_deref(), Some("opted_out"));
    assert!(attempts.iter().all(|a| a.state == AttemptState::Ended));
    let stats = rig
        .store
        .campaign_counters(campaign_id)
        .await
        .expect("counters");
    assert!(
        stats.get("skip_outside_window").copied().unwrap_or(0) > 0,
        "{stats:?}"
    );
    assert!(
        stats.get("skip_dnc").copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    let campaign = rig.store.get_campaign(campaign_id).await.expect("campaign");
    assert_eq!(campaign.status, "completed", "every contact is done");
}

/// A campaign that requires consent dials only phones with valid consent; revoking it
/// (or an opt-out) stops the next dial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_required_and_missing_means_no_dial() {
    let start = ms("2027-03-10T10:00:00Z");
    let rig = rig(start, 10).await;
    rig.store
        .upsert_customers(vec![
            customer("With", "+32470000011", "BE"),
            customer("Without", "+32470000012", "BE"),
            customer("Revoked", "+32470000013", "BE"),
        ])
        .await
        .expect("customers");
    for (phone, revoked) in [("+32470000011", false), ("+32470000013", true)] {
        rig.store
            .put_consent(Consent {
                phone_e164: phone.into(),
                source: "web_form".into(),
                captured_at: start - 86_400_000,
                wording: "You may call me with an AI assistant.".into(),
                wording_version: "v1".into(),
                channel: "web".into(),
                evidence_ref: "form-1".into(),
                revoked_at: revoked.then_some(start - 1000),
                revoked_reason: revoked.then(|| "asked".into()),
                recorded_by: "test".into(),
                updated_at: start,
            })
            .await
            .expect("consent");
    }
    let c = rig
        .store
        .create_campaign(campaign(
            "Consent",
            json!({ "requires_consent": true, "calls_per_second": 10.0 }),
        ))
        .await
        .expect("campaign");
    for _ in 0..10 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(5));
    }
    let dialed: Vec<String> = rig.dials().into_iter().map(|(_, to)| to).collect();
    assert_eq!(dialed, ["+32470000011"]);
    let counters = rig.store.campaign_counters(&c.id).await.expect("counters");
    assert_eq!(counters.get("skip_no_consent"), Some(&2), "{counters:?}");

    // The agent records the outcome (a category the campaign defines); the attempt
    // carries it once the call is over.
    let (call_id, _) = rig.dials().remove(0);
    let hooks = agent5_api::calls::hooks::Hooks::new(Arc::clone(&rig.telephony));
    let set = |category: &str| agent5_bridge::agent::ToolCall::SetOutcome {
        category: category.into(),
        note: Some("call back Friday".into()),
    };
    let refused = hooks.tool(&call_id, &set("sold_a_car")).await;
    assert!(
        matches!(&refused, Err(agent5_bridge::agent::ToolError::Failed(m)) if m.contains("interested")),
        "{refused:?}"
    );
    hooks
        .tool(&call_id, &set("interested"))
        .await
        .expect("outcome");
    rig.answer_and_end(&call_id, true).await;
    rig.dialer.tick().await.expect("tick");
    let attempt = rig.attempts(&c.id).await.remove(0);
    assert_eq!(attempt.disposition.as_deref(), Some("completed"));
    assert_eq!(attempt.outcome.as_deref(), Some("interested"));
}

/// A dial interrupted between the reservation and the carrier's answer (a crash) is
/// never re-dialled blindly: the phone waits while its attempt is open, the attempt
/// becomes `unknown` after the timeout and counts, and the next dial waits for the
/// `failed` retry delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_dial_is_reconciled_not_repeated() {
    let start = ms("2027-03-10T10:00:00Z");
    let rig = rig(start, 10).await;
    let ids = rig
        .store
        .upsert_customers(vec![customer("Crash", "+32470000021", "BE")])
        .await
        .expect("customer");
    let c = rig
        .store
        .create_campaign(campaign("Crash", json!({ "calls_per_second": 10.0 })))
        .await
        .expect("campaign");
    // What a crashed appliance left: the reservation, no call, no carrier answer.
    rig.store
        .reserve_attempt(CallAttempt {
            id: new_id(),
            campaign_id: c.id.clone(),
            customer_id: ids[0].id.clone(),
            target: "invoice".into(),
            delivery_code: None,
            phone_e164: "+32470000021".into(),
            attempt_no: 0,
            started_at: start,
            ended_at: None,
            disposition: None,
            call_id: None,
            error: None,
            state: AttemptState::Reserved,
            outcome: None,
        })
        .await
        .expect("reserved");
    for _ in 0..10 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(10));
    }
    assert!(rig.dials().is_empty(), "no dial while the attempt is open");
    rig.advance(Duration::from_secs(120));
    rig.dialer.tick().await.expect("tick");
    let attempts = rig.attempts(&c.id).await;
    assert_eq!(attempts[0].state, AttemptState::Unknown);
    assert_eq!(attempts[0].disposition.as_deref(), Some("unknown"));
    let entry = rig
        .store
        .get_dial_entry(&c.id, "+32470000021")
        .await
        .expect("entry");
    assert_eq!(entry.attempts, 1, "the unknown attempt counts");
    assert!(entry.next_at >= Some(attempts[0].ended_at.expect("ended") + 60 * 60_000));
    rig.advance(Duration::from_secs(61 * 60));
    rig.dialer.tick().await.expect("tick");
    assert_eq!(
        rig.dials().len(),
        1,
        "dialled again only after the retry delay"
    );
    assert_eq!(rig.attempts(&c.id).await[1].attempt_no, 2);
}

/// Abandoned calls (answered, no agent reached) pause the campaign once the 30-day
/// rate reaches the threshold, with the reason stored and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_pauses_itself_at_the_abandon_threshold() {
    let start = ms("2027-03-10T10:00:00Z");
    let rig = rig(start, 50).await;
    let people: Vec<NewCustomer> = (0..45)
        .map(|i| customer(&format!("P{i}"), &format!("+324700001{i:02}"), "BE"))
        .collect();
    rig.store.upsert_customers(people).await.expect("customers");
    let c = rig
        .store
        .create_campaign(campaign(
            "Abandon",
            json!({ "calls_per_second": 50.0, "max_concurrent": 50 }),
        ))
        .await
        .expect("campaign");
    let mut handled = 0;
    for round in 0..200 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(1));
        let dials = rig.dials();
        for (i, (call_id, _)) in dials.iter().enumerate().skip(handled) {
            // The 41st and 42nd calls find no agent: at most 2 of 42 answered
            // (4.8%), at least 1 of 41 (2.4%) — the campaign pauses on the way.
            rig.answer_and_end(call_id, !(i == 40 || i == 41)).await;
        }
        handled = dials.len();
        if rig.store.get_campaign(&c.id).await.expect("get").status == "paused" {
            assert!(round > 0);
            break;
        }
    }
    // The sweep that sees the second abandoned call pauses the campaign.
    rig.dialer.tick().await.expect("tick");
    let paused = rig.store.get_campaign(&c.id).await.expect("campaign");
    assert_eq!(paused.status, "paused");
    assert_eq!(paused.paused_reason.as_deref(), Some("abandon_rate"));
    let (abandoned, answered, rate) = rig.dialer.abandon_rate(&c.id).await.expect("rate");
    assert!(abandoned >= 1 && rate >= 0.025, "{abandoned}/{answered}");
    let audit = rig
        .store
        .list_audit(&agent5_api::model::AuditQuery {
            action: Some("campaign.auto_pause".into()),
            limit: 10,
            ..agent5_api::model::AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.items.len(), 1);
    assert!(audit.items[0].detail.contains("abandon_rate"));
    let before = rig.dials().len();
    rig.advance(Duration::from_secs(60));
    rig.dialer.tick().await.expect("tick");
    assert_eq!(rig.dials().len(), before, "a paused campaign dials nobody");
}

/// Two appliances on one MongoDB (SecantusDB) tick the same campaign at once: the
/// campaign lease gives it to one, so no phone is dialled twice and the cap holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_appliances_on_one_mongodb_dial_a_campaign_once() {
    let Ok(uri) = std::env::var("AGENT5_TEST_MONGO_URI") else {
        assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
        );
        return;
    };
    let db = format!("t_dialer_two_{}", &new_id()[..8]);
    let connect = || async {
        let s: SharedStore = Arc::new(
            agent5_api::store::mongo::MongoStore::connect_database(&uri, Some(&db))
                .await
                .expect("mongo"),
        );
        s
    };
    let start = ms("2027-03-10T10:00:00Z");
    let fake = FakeTelnyx::start(KEY).await;
    let a = rig_on(
        connect().await,
        fake.clone(),
        start,
        50,
        "node-a",
        tempfile::tempdir().expect("dir"),
    );
    let b = rig_on(
        connect().await,
        fake.clone(),
        start,
        50,
        "node-b",
        tempfile::tempdir().expect("dir"),
    );
    let people: Vec<NewCustomer> = (0..12)
        .map(|i| customer(&format!("M{i}"), &format!("+324700003{i:02}"), "BE"))
        .collect();
    a.store.upsert_customers(people).await.expect("customers");
    let c = a
        .store
        .create_campaign(campaign(
            "Shared",
            json!({ "calls_per_second": 50.0, "max_concurrent": 3 }),
        ))
        .await
        .expect("campaign");
    let mut handled = 0;
    for _ in 0..60 {
        let (ra, rb) = tokio::join!(a.dialer.tick_report(), b.dialer.tick_report());
        let (ra, rb) = (ra.expect("tick a").0, rb.expect("tick b").0);
        assert!(
            ra.dialed == 0 || rb.dialed == 0,
            "both appliances dialled in one round"
        );
        let open = a.store.attempt_tally(&c.id, 0).await.expect("tally").open;
        assert!(open <= 3, "cap exceeded: {open} open");
        a.advance(Duration::from_secs(1));
        b.advance(Duration::from_secs(1));
        let dials = a.dials();
        for (call_id, _) in &dials[handled..] {
            a.answer_and_end(call_id, true).await;
        }
        handled = dials.len();
    }
    let attempts = a.attempts(&c.id).await;
    let mut phones: Vec<&str> = attempts.iter().map(|x| x.phone_e164.as_str()).collect();
    phones.sort_unstable();
    phones.dedup();
    assert_eq!(phones.len(), 12, "every phone dialled");
    assert_eq!(attempts.len(), 12, "no phone dialled twice");
    assert_eq!(fake.requests_to("/calls").len(), 12);
}
