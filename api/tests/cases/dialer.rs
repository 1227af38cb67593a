//! The dialler's shared state: dial lists, counters, leases and attempt tallies.

use agent5_api::model::{new_id, AttemptState, CallAttempt, Campaign, DialEntry, EntryState};
use agent5_api::store::SharedStore;

fn campaign(name: &str) -> Campaign {
    Campaign {
        id: new_id(),
        name: name.into(),
        description: String::new(),
        status: "running".into(),
        audience: serde_json::json!({}),
        schedule: serde_json::json!({}),
        dialer: serde_json::json!({}),
        script_profile: String::new(),
        created_at: 1,
        updated_at: 1,
        version: 0,
        paused_reason: None,
    }
}

fn entry(campaign_id: &str, phone: &str, next_at: i64) -> DialEntry {
    DialEntry {
        campaign_id: campaign_id.into(),
        phone_e164: phone.into(),
        customer_id: "cust-1".into(),
        target: "invoice".into(),
        delivery_code: None,
        state: EntryState::Waiting,
        next_at: Some(next_at),
        attempts: 0,
        last_disposition: None,
        reason: None,
        updated_at: next_at,
    }
}

fn attempt(campaign_id: &str, phone: &str, started_at: i64) -> CallAttempt {
    CallAttempt {
        id: new_id(),
        campaign_id: campaign_id.into(),
        customer_id: "cust-1".into(),
        target: "invoice".into(),
        delivery_code: None,
        phone_e164: phone.into(),
        attempt_no: 0,
        started_at,
        ended_at: None,
        disposition: None,
        call_id: None,
        error: None,
        state: AttemptState::Reserved,
        outcome: None,
    }
}

/// One entry per campaign and phone; due entries earliest first; a write replaces the
/// entry and moves it between states; the counts follow.
pub async fn a_dial_list_keeps_one_entry_per_phone(store: SharedStore) {
    let c = store
        .create_campaign(campaign("Dial list"))
        .await
        .expect("campaign");
    let other = store
        .create_campaign(campaign("Other list"))
        .await
        .expect("campaign");
    let added = store
        .add_dial_entries(vec![
            entry(&c.id, "+32475000003", 300),
            entry(&c.id, "+32475000001", 100),
            entry(&c.id, "+32475000002", 200),
            entry(&c.id, "+32475000001", 50),
            entry(&other.id, "+32475000001", 10),
        ])
        .await
        .expect("add");
    assert_eq!(added, 4, "the repeated phone is listed once");
    assert_eq!(
        store
            .add_dial_entries(vec![entry(&c.id, "+32475000002", 1)])
            .await,
        Ok(0),
        "a listed phone is left as it is"
    );
    let phones = |v: Vec<DialEntry>| v.into_iter().map(|e| e.phone_e164).collect::<Vec<_>>();
    let due = store.due_dial_entries(&c.id, 200, 10).await.expect("due");
    assert_eq!(phones(due.clone()), ["+32475000001", "+32475000002"]);
    assert_eq!(
        due[0].next_at,
        Some(100),
        "the first write of a phone stays"
    );
    assert_eq!(
        store
            .due_dial_entries(&c.id, 1000, 1)
            .await
            .expect("due")
            .len(),
        1
    );

    let mut dialing = due[0].clone();
    dialing.state = EntryState::Dialing;
    dialing.attempts = 1;
    dialing.updated_at = 150;
    store.put_dial_entry(dialing.clone()).await.expect("put");
    assert_eq!(
        phones(store.due_dial_entries(&c.id, 1000, 10).await.expect("due")),
        ["+32475000002", "+32475000003"]
    );
    assert_eq!(
        store
            .dial_entries_in(&c.id, EntryState::Dialing, 10)
            .await
            .expect("dialing"),
        vec![dialing.clone()]
    );
    assert_eq!(
        store
            .get_dial_entry(&c.id, "+32475000001")
            .await
            .expect("get"),
        dialing
    );
    let mut done = dialing;
    done.state = EntryState::Done;
    done.next_at = None;
    done.reason = Some("completed".into());
    store.put_dial_entry(done).await.expect("put");
    let counts = store.dial_entry_counts(&c.id).await.expect("counts");
    assert_eq!((counts.waiting, counts.dialing, counts.done), (2, 0, 1));
    assert_eq!(counts.next_at, Some(200));
    assert_eq!(
        store.get_dial_entry(&c.id, "+32475999999").await,
        Err(agent5_api::store::StoreError::NotFound)
    );
}

/// Waiting entries due by an instant are counted no further than a limit (how the
/// dialler decides whether its list is far enough ahead).
pub async fn waiting_entries_are_counted_up_to_a_limit(store: SharedStore) {
    let c = store
        .create_campaign(campaign("Ahead"))
        .await
        .expect("campaign");
    store
        .add_dial_entries(vec![
            entry(&c.id, "+32475000001", 100),
            entry(&c.id, "+32475000002", 200),
            entry(&c.id, "+32475000003", 300),
        ])
        .await
        .expect("add");
    let mut done = entry(&c.id, "+32475000003", 300);
    done.state = EntryState::Done;
    store.put_dial_entry(done).await.expect("put");
    assert_eq!(store.count_waiting(&c.id, 1000, 10).await, Ok(2));
    assert_eq!(
        store.count_waiting(&c.id, 1000, 1).await,
        Ok(1),
        "counted no further"
    );
    assert_eq!(
        store.count_waiting(&c.id, 150, 10).await,
        Ok(1),
        "due by then"
    );
}

/// A lease has one holder until it expires by the database's clock (a negative time
/// to live is expired at once, so no test waits for a clock).
pub async fn a_lease_has_one_holder_until_it_expires(store: SharedStore) {
    let name = format!("dialer:{}", new_id());
    assert_eq!(store.acquire_lease(&name, "node-a", 60_000).await, Ok(true));
    assert_eq!(
        store.acquire_lease(&name, "node-b", 60_000).await,
        Ok(false)
    );
    assert_eq!(
        store.acquire_lease(&name, "node-a", 60_000).await,
        Ok(true),
        "renewed"
    );
    store.release_lease(&name, "node-b").await.expect("not b's");
    assert_eq!(
        store.acquire_lease(&name, "node-b", 60_000).await,
        Ok(false)
    );
    store.release_lease(&name, "node-a").await.expect("release");
    assert_eq!(
        store.acquire_lease(&name, "node-b", -1).await,
        Ok(true),
        "free"
    );
    assert_eq!(
        store.acquire_lease(&name, "node-a", 60_000).await,
        Ok(true),
        "b's lease expired by the database's clock"
    );
    assert_eq!(
        store.acquire_lease(&name, "node-b", 60_000).await,
        Ok(false)
    );
}

/// Counters add up; tallies count attempts since an instant (open ones whenever they
/// started) with their dispositions; attempts list by start time both ways.
pub async fn counters_and_attempt_tallies(store: SharedStore) {
    let c = store
        .create_campaign(campaign("Tallies"))
        .await
        .expect("campaign");
    store
        .bump_counters(
            &c.id,
            vec![("skip_dnc".into(), 2), ("skip_window".into(), 1)],
        )
        .await
        .expect("bump");
    store
        .bump_counters(&c.id, vec![("skip_dnc".into(), 3)])
        .await
        .expect("bump");
    let counters = store.campaign_counters(&c.id).await.expect("counters");
    assert_eq!(counters.get("skip_dnc"), Some(&5));
    assert_eq!(counters.get("skip_window"), Some(&1));
    assert!(store
        .campaign_counters("nope")
        .await
        .expect("none")
        .is_empty());

    let mut ids = Vec::new();
    for (phone, at, disposition) in [
        ("+32475000001", 100, Some("busy")),
        ("+32475000002", 200, Some("completed")),
        ("+32475000003", 300, Some("busy")),
        ("+32475000004", 50, None),
        ("+32475000005", 400, None),
    ] {
        let a = store
            .reserve_attempt(attempt(&c.id, phone, at))
            .await
            .expect("reserve");
        ids.push(a.id.clone());
        if let Some(d) = disposition {
            let ended = CallAttempt {
                state: AttemptState::Ended,
                disposition: Some(d.into()),
                ended_at: Some(at + 10),
                ..a
            };
            store
                .settle_attempt(ended, &[AttemptState::Reserved])
                .await
                .expect("settle");
        }
    }
    let tally = store.attempt_tally(&c.id, 150).await.expect("tally");
    assert_eq!((tally.started, tally.open), (3, 2), "{tally:?}");
    assert_eq!(tally.dispositions.get("busy"), Some(&1));
    assert_eq!(tally.dispositions.get("completed"), Some(&1));
    let all = store.attempt_tally(&c.id, 0).await.expect("tally");
    assert_eq!((all.started, all.open), (5, 2));
    assert_eq!(all.dispositions.get("busy"), Some(&2));

    let order = |v: Vec<CallAttempt>| v.into_iter().map(|a| a.started_at).collect::<Vec<_>>();
    assert_eq!(
        order(
            store
                .campaign_attempts(&c.id, false, 0, 10)
                .await
                .expect("list")
        ),
        [50, 100, 200, 300, 400]
    );
    assert_eq!(
        order(
            store
                .campaign_attempts(&c.id, true, 1, 2)
                .await
                .expect("list")
        ),
        [300, 200]
    );
    let latest = store
        .latest_attempt_of_phone("+32475000003")
        .await
        .expect("latest")
        .expect("one");
    assert_eq!(latest.started_at, 300);
    assert_eq!(
        store.latest_attempt_of_phone("+32475999999").await,
        Ok(None)
    );
}

fn consent(phone: &str, at: i64) -> agent5_api::model::Consent {
    agent5_api::model::Consent {
        phone_e164: phone.into(),
        source: "web_form".into(),
        captured_at: at,
        wording: "I agree to be called by an AI assistant about my invoices.".into(),
        wording_version: "v2".into(),
        channel: "web".into(),
        evidence_ref: "form-8812".into(),
        revoked_at: None,
        revoked_reason: None,
        recorded_by: "api".into(),
        updated_at: at,
    }
}

/// Consent is one record per phone, listed by phone, revoked once; a do-not-call
/// entry revokes it in the same write.
pub async fn consent_is_revoked_by_hand_or_by_an_opt_out(store: SharedStore) {
    let (a, b, c) = ("+32470100001", "+32470100002", "+32470100003");
    for p in [b, a, c] {
        store.put_consent(consent(p, 10)).await.expect("put");
    }
    let mut newer = consent(a, 20);
    newer.wording_version = "v3".into();
    store.put_consent(newer.clone()).await.expect("replace");
    assert_eq!(store.get_consent(a).await, Ok(newer));
    let phones = |v: Vec<agent5_api::model::Consent>| {
        v.into_iter().map(|c| c.phone_e164).collect::<Vec<_>>()
    };
    assert_eq!(
        phones(store.list_consents(None, 10).await.expect("list")),
        [a, b, c]
    );
    assert_eq!(
        phones(store.list_consents(Some(a), 1).await.expect("list")),
        [b]
    );

    let revoked = store
        .revoke_consent(b, 30, "asked by email")
        .await
        .expect("revoke");
    assert_eq!((revoked.revoked_at, revoked.is_valid()), (Some(30), false));
    let again = store.revoke_consent(b, 40, "again").await.expect("revoke");
    assert_eq!(again.revoked_at, Some(30), "the first revocation stays");
    assert_eq!(
        store.revoke_consent("+32470199999", 1, "x").await,
        Err(agent5_api::store::StoreError::NotFound)
    );

    store
        .add_dnc(vec![agent5_api::model::DncEntry {
            phone_e164: c.into(),
            reason: "stop calling".into(),
            source: agent5_api::model::DncSource::Call,
            added_by: "agent".into(),
            added_at: 50,
        }])
        .await
        .expect("dnc");
    let opted = store.get_consent(c).await.expect("get");
    assert_eq!(opted.revoked_at, Some(50));
    assert_eq!(
        opted.revoked_reason.as_deref(),
        Some("opted out (call): stop calling")
    );
    assert!(store.get_consent(a).await.expect("get").is_valid());
}
