//! Cases for agent profiles, calls and transcript turns, campaigns and attempts.

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::model::{
    new_id, now_millis, AgentProfile, AttemptState, Call, CallAttempt, CallQuery, CallStatus,
    Campaign, Direction, RecordingMeta, Turn,
};
use agent5_api::store::{SharedStore, StoreError};

fn agent(name: &str) -> AgentProfile {
    AgentProfile {
        id: new_id(),
        name: name.into(),
        instructions: "Be brief.".into(),
        voice: "alloy".into(),
        language: "nl".into(),
        tools: vec![
            agent5_bridge::agent::Tool::OptOut,
            agent5_bridge::agent::Tool::EndCall,
        ],
        created_at: now_millis(),
        updated_at: now_millis(),
    }
}

pub async fn agents_crud_and_name_conflict(store: SharedStore) {
    let a = store
        .create_agent(agent("Invoices NL"))
        .await
        .expect("create");
    store
        .create_agent(agent("Deliveries FR"))
        .await
        .expect("create");
    assert_eq!(
        store.create_agent(agent("Invoices NL")).await,
        Err(StoreError::Conflict {
            field: "name".into()
        })
    );
    let names: Vec<String> = store
        .list_agents()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, vec!["Deliveries FR", "Invoices NL"]);
    let mut edited = a.clone();
    edited.voice = "verse".into();
    store.update_agent(edited.clone()).await.expect("update");
    assert_eq!(store.get_agent(&a.id).await.expect("get"), edited);
    let mut clash = edited.clone();
    clash.name = "Deliveries FR".into();
    assert_eq!(
        store.update_agent(clash).await,
        Err(StoreError::Conflict {
            field: "name".into()
        })
    );
    store.delete_agent(&a.id).await.expect("delete");
    assert_eq!(store.get_agent(&a.id).await, Err(StoreError::NotFound));
    assert_eq!(store.delete_agent(&a.id).await, Err(StoreError::NotFound));
}

fn call(phone: &str, status: CallStatus, started_at: i64, campaign: Option<&str>) -> Call {
    Call {
        status,
        campaign_id: campaign.map(str::to_owned),
        agent_profile: Some("Invoices NL".into()),
        stream_token_hash: Some("ab".repeat(32)),
        ..Call::new(new_id(), Direction::Outbound, phone.into(), started_at)
    }
}

/// Four calls: the first with a carrier id and an idempotency key (returned), the
/// others without, in two campaigns.
async fn four_calls(store: &SharedStore) -> Call {
    let mut first = call("+32475000001", CallStatus::Dialing, 1_000, Some("camp-1"));
    first.idempotency_key = Some("idem-1".into());
    first.call_control_id = Some("v2:ctl-1".into());
    let first = store.create_call(first).await.expect("create");
    // Calls without a carrier id or key do not collide with each other.
    store
        .create_call(call(
            "+32475000002",
            CallStatus::Ended,
            2_000,
            Some("camp-1"),
        ))
        .await
        .expect("create");
    let mut inbound = call("+32475000001", CallStatus::Ended, 3_000, None);
    inbound.direction = Direction::Inbound;
    store.create_call(inbound).await.expect("create");
    store
        .create_call(call(
            "+32475000003",
            CallStatus::Ringing,
            4_000,
            Some("camp-2"),
        ))
        .await
        .expect("create");

    first
}

/// The first call answered, with its recording.
fn answered(first: &Call) -> Call {
    let mut answered = first.clone();
    answered.status = CallStatus::Answered;
    answered.answered_at = Some(1_500);
    answered.recording = Some(RecordingMeta {
        location: "recordings/abc.wav".into(),
        format: "wav/pcmu/stereo".into(),
        bytes: 16_044,
        duration_ms: 1_000,
    });
    answered
}

pub async fn a_call_is_found_by_carrier_id_and_by_its_unique_idempotency_key(store: SharedStore) {
    let first = four_calls(&store).await;
    let mut dup_key = call("+32475000009", CallStatus::Dialing, 1_001, None);
    dup_key.idempotency_key = Some("idem-1".into());
    assert_eq!(
        store.create_call(dup_key).await,
        Err(StoreError::Conflict {
            field: "idempotency_key".into()
        })
    );
    assert_eq!(
        store
            .find_call_by_control_id("v2:ctl-1")
            .await
            .expect("by ctl")
            .id,
        first.id
    );
    assert_eq!(
        store
            .find_call_by_idempotency_key("idem-1")
            .await
            .expect("by key")
            .id,
        first.id
    );
    assert_eq!(
        store.find_call_by_control_id("v2:none").await,
        Err(StoreError::NotFound)
    );
}

pub async fn a_call_update_needs_the_version_it_read(store: SharedStore) {
    let first = four_calls(&store).await;
    let answered = answered(&first);
    let saved = store.update_call(answered.clone()).await.expect("update");
    assert_eq!(saved.version, 1);
    assert_eq!(store.get_call(&first.id).await.expect("get"), saved);
    assert_eq!(
        store.update_call(answered).await,
        Err(StoreError::Conflict {
            field: "version".into()
        })
    );
    let mut ghost = call("+1", CallStatus::Failed, 0, None);
    ghost.id = "ghost".into();
    assert_eq!(store.update_call(ghost).await, Err(StoreError::NotFound));
}

pub async fn calls_list_newest_first_by_status_phone_campaign_and_time(store: SharedStore) {
    let first = four_calls(&store).await;
    store.update_call(answered(&first)).await.expect("update");
    let list = |q: CallQuery| {
        let store = Arc::clone(&store);
        async move {
            store
                .list_calls(&CallQuery { limit: 50, ..q })
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|c| c.started_at)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(CallQuery::default()).await,
        vec![4_000, 3_000, 2_000, 1_000]
    );
    assert_eq!(
        list(CallQuery {
            status: Some(CallStatus::Ended),
            ..CallQuery::default()
        })
        .await,
        vec![3_000, 2_000]
    );
    assert_eq!(
        list(CallQuery {
            phone: Some("+32475000001".into()),
            ..CallQuery::default()
        })
        .await,
        vec![3_000, 1_000]
    );
    assert_eq!(
        list(CallQuery {
            direction: Some(Direction::Inbound),
            ..CallQuery::default()
        })
        .await,
        vec![3_000]
    );
    assert_eq!(
        list(CallQuery {
            direction: Some(Direction::Outbound),
            status: Some(CallStatus::Ended),
            ..CallQuery::default()
        })
        .await,
        vec![2_000]
    );
    assert_eq!(
        list(CallQuery {
            campaign_id: Some("camp-1".into()),
            ..CallQuery::default()
        })
        .await,
        vec![2_000, 1_000]
    );
    assert_eq!(
        list(CallQuery {
            from: Some(2_000),
            to: Some(4_000),
            ..CallQuery::default()
        })
        .await,
        vec![3_000, 2_000]
    );
    let page = store
        .list_calls(&CallQuery {
            offset: 1,
            limit: 2,
            ..CallQuery::default()
        })
        .await
        .expect("page");
    assert_eq!(
        page.items.iter().map(|c| c.started_at).collect::<Vec<_>>(),
        vec![3_000, 2_000]
    );
    assert!(page.has_more);
    assert_eq!(
        store
            .count_calls_in(&[CallStatus::Answered, CallStatus::Ringing])
            .await
            .expect("count"),
        2
    );
    assert_eq!(store.count_calls_in(&[]).await.expect("count"), 0);
}

pub async fn concurrent_turn_appends(store: SharedStore) {
    let c = store
        .create_call(call("+32475000001", CallStatus::Streaming, 1, None))
        .await
        .expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            let id = c.id.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..10 {
                    let turn = Turn {
                        seq: 0,
                        role: if t % 2 == 0 {
                            "caller".into()
                        } else {
                            "agent".into()
                        },
                        text: format!("{t}-{i}"),
                        start_ms: i * 100,
                        end_ms: i * 100 + 50,
                        interrupted: i == 3,
                    };
                    seqs.push(store.append_turn(&id, turn).await.expect("append"));
                }
                seqs
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for t in tasks {
        for s in t.await.expect("join") {
            assert!(all.insert(s), "seq {s} assigned twice");
        }
    }
    assert_eq!(all, (1..=80).collect::<BTreeSet<i64>>());
    let turns = store.list_turns(&c.id).await.expect("turns");
    assert_eq!(turns.len(), 80);
    assert!(turns.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert_eq!(turns.iter().filter(|t| t.interrupted).count(), 8);
    let turn = Turn {
        seq: 0,
        role: "agent".into(),
        text: "x".into(),
        start_ms: 0,
        end_ms: 1,
        interrupted: false,
    };
    assert_eq!(
        store.append_turn("no-such-call", turn).await,
        Err(StoreError::NotFound)
    );
}

fn campaign(name: &str, created_at: i64) -> Campaign {
    Campaign {
        id: new_id(),
        name: name.into(),
        description: String::new(),
        status: "draft".into(),
        audience: serde_json::json!({ "include_tags": ["vip"], "target": "invoice" }),
        schedule: serde_json::json!({ "tz": "Europe/Brussels" }),
        dialer: serde_json::json!({ "max_attempts": 3 }),
        script_profile: "Invoices NL".into(),
        created_at,
        updated_at: created_at,
        version: 0,
        paused_reason: None,
    }
}

fn attempt(campaign_id: &str, phone: &str) -> CallAttempt {
    CallAttempt {
        id: new_id(),
        campaign_id: campaign_id.into(),
        customer_id: "cust-1".into(),
        target: "invoice".into(),
        delivery_code: None,
        phone_e164: phone.into(),
        attempt_no: 0,
        started_at: now_millis(),
        ended_at: None,
        disposition: None,
        call_id: None,
        error: None,
        state: AttemptState::default(),
        outcome: None,
    }
}

pub async fn campaigns_and_attempt_numbers(store: SharedStore) {
    let spring = store
        .create_campaign(campaign("Spring invoices", 1))
        .await
        .expect("create");
    store
        .create_campaign(campaign("Deliveries", 2))
        .await
        .expect("create");
    assert_eq!(
        store.create_campaign(campaign("Spring invoices", 3)).await,
        Err(StoreError::Conflict {
            field: "name".into()
        })
    );
    let names: Vec<String> = store
        .list_campaigns()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["Deliveries", "Spring invoices"]);
    let mut running = spring.clone();
    running.status = "running".into();
    let saved = store
        .update_campaign(running.clone())
        .await
        .expect("update");
    assert_eq!(saved.version, 1);
    assert_eq!(
        store.get_campaign(&spring.id).await.expect("get").status,
        "running"
    );
    assert_eq!(
        store.update_campaign(running).await,
        Err(StoreError::Conflict {
            field: "version".into()
        })
    );

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let id = spring.id.clone();
            tokio::spawn(async move {
                store
                    .record_attempt(attempt(&id, "+32475000001"))
                    .await
                    .expect("attempt")
                    .attempt_no
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        assert!(
            numbers.insert(t.await.expect("join")),
            "attempt number repeated"
        );
    }
    assert_eq!(numbers, (1..=8).collect::<BTreeSet<i64>>());
    let other = store
        .record_attempt(attempt(&spring.id, "+32475000002"))
        .await
        .expect("attempt");
    assert_eq!(other.attempt_no, 1, "numbering is per phone");
    let listed = store
        .list_attempts(&spring.id, "+32475000001")
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|a| a.attempt_no).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
}

pub async fn only_a_draft_campaign_is_deleted(store: SharedStore) {
    let draft = store
        .create_campaign(campaign("Draft", 1))
        .await
        .expect("create");
    let mut running = store
        .create_campaign(campaign("Running", 2))
        .await
        .expect("create");
    running.status = "running".into();
    store
        .update_campaign(running.clone())
        .await
        .expect("update");
    assert_eq!(
        store.delete_draft_campaign(&running.id).await,
        Err(StoreError::Conflict {
            field: "status".into()
        })
    );
    store
        .delete_draft_campaign(&draft.id)
        .await
        .expect("delete draft");
    assert_eq!(
        store.delete_draft_campaign(&draft.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.get_campaign(&draft.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.list_campaigns().await.expect("list").len(), 1);
}

/// Never two open dials of one campaign and phone: eight reservers at once (as eight
/// appliances would) get one reservation; the next comes only once it is settled.
pub async fn a_phone_has_one_open_attempt_per_campaign(store: SharedStore) {
    let camp = store
        .create_campaign(campaign("Intents", 1))
        .await
        .expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let id = camp.id.clone();
            tokio::spawn(async move { store.reserve_attempt(attempt(&id, "+32475000009")).await })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(a) => won.push(a),
            Err(e) => assert_eq!(
                e,
                StoreError::Conflict {
                    field: "in_flight".into()
                }
            ),
        }
    }
    assert_eq!(won.len(), 1, "exactly one reservation");
    let first = won.remove(0);
    assert_eq!((first.attempt_no, first.state), (1, AttemptState::Reserved));
    // Another phone of the campaign is not held up.
    store
        .reserve_attempt(attempt(&camp.id, "+32475000010"))
        .await
        .expect("other phone");

    // The carrier answered: dialed; a settle from the wrong state is refused.
    let dialed = CallAttempt {
        state: AttemptState::Dialed,
        call_id: Some("call-1".into()),
        ..first.clone()
    };
    let dialed = store
        .settle_attempt(dialed, &[AttemptState::Reserved])
        .await
        .expect("dialed");
    assert_eq!(
        store
            .settle_attempt(first.clone(), &[AttemptState::Reserved])
            .await,
        Err(StoreError::Conflict {
            field: "state".into()
        })
    );
    // Still open: no second attempt yet; reconciliation sees it.
    assert_eq!(
        store
            .reserve_attempt(attempt(&camp.id, "+32475000009"))
            .await,
        Err(StoreError::Conflict {
            field: "in_flight".into()
        })
    );
    let open = store
        .open_attempts_before(now_millis() + 1_000)
        .await
        .expect("open");
    assert_eq!(open.len(), 2);
    assert!(store
        .open_attempts_before(first.started_at)
        .await
        .expect("open")
        .is_empty());

    let ended = CallAttempt {
        state: AttemptState::Ended,
        disposition: Some("no_answer".into()),
        ..dialed
    };
    store
        .settle_attempt(ended, &[AttemptState::Reserved, AttemptState::Dialed])
        .await
        .expect("ended");
    let second = store
        .reserve_attempt(attempt(&camp.id, "+32475000009"))
        .await
        .expect("second attempt");
    assert_eq!(second.attempt_no, 2);
    let mut ghost = attempt(&camp.id, "+1");
    ghost.id = "ghost".into();
    assert_eq!(
        store.settle_attempt(ghost, &[AttemptState::Reserved]).await,
        Err(StoreError::NotFound)
    );
}

/// The calls' change stream (MongoDB): every write from the moment it is open, in
/// order, each call as it then is; none on SQLite.
pub async fn the_calls_change_stream_reports_each_write_in_order(store: SharedStore) {
    use futures_util::StreamExt;
    let Some(mut changes) = store.watch_calls().await.expect("watch") else {
        assert_eq!(
            store.backend(),
            "sqlite",
            "only SQLite has no change stream"
        );
        return;
    };
    let created = store
        .create_call(call("+32475000001", CallStatus::Dialing, 10, None))
        .await
        .expect("create");
    let mut ringing = created.clone();
    ringing.status = CallStatus::Ringing;
    let ringing = store.update_call(ringing).await.expect("update");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), changes.next())
            .await
            .expect("a change in time")
            .expect("the stream goes on")
            .expect("a call");
        if next.id == created.id {
            seen.push(next.version);
        }
    }
    assert_eq!(
        seen[1], ringing.version,
        "the last write is the last change"
    );
    assert!(seen[0] <= seen[1], "in order: {seen:?}");
}
