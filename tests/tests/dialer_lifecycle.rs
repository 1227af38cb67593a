//! The dialler's lifecycle on the fake carrier and an injected clock: contacts added
//! later join a running campaign, inbound capacity is kept, repeated carrier failures
//! pause a campaign, a draining appliance gives its campaigns back, and a stopped
//! campaign's calls are still settled.

mod dialer_rig;

use std::sync::Arc;
use std::time::Duration;

use agent5_api::model::{AttemptState, NewCustomer};
use dialer_rig::*;
use serde_json::json;

/// Contacts added after the start join a running campaign at the next audience pass;
/// the appliance-wide cap keeps capacity for inbound calls; failed dials in a row
/// pause the campaign with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_contacts_join_inbound_capacity_is_kept_and_carrier_failures_pause() {
    let start = ms("2027-03-10T10:00:00Z");
    // 4 calls in all, 1 kept for inbound: the campaign (cap 10) gets 3.
    let rig = rig(start, 4).await;
    let people: Vec<NewCustomer> = (0..6)
        .map(|i| customer(&format!("L{i}"), &format!("+324700005{i:02}"), "BE"))
        .collect();
    rig.store.upsert_customers(people).await.expect("customers");
    let c = rig
        .store
        .create_campaign(campaign(
            "Late",
            json!({ "calls_per_second": 50.0, "max_concurrent": 10 }),
        ))
        .await
        .expect("campaign");
    for _ in 0..5 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(1));
    }
    assert_eq!(
        rig.dials().len(),
        3,
        "one call kept free for inbound callers"
    );

    // A contact added now joins at the next pass (refill_every: one hour here).
    rig.store
        .upsert_customers(vec![customer("Newcomer", "+32470000599", "BE")])
        .await
        .expect("late customer");
    for (call_id, _) in rig.dials() {
        rig.answer_and_end(&call_id, true).await;
    }
    rig.advance(Duration::from_secs(3600));
    for _ in 0..10 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(1));
        for (call_id, _) in rig.dials().iter().skip(3) {
            if rig
                .store
                .get_call(call_id)
                .await
                .expect("call")
                .status
                .is_live()
            {
                rig.answer_and_end(call_id, true).await;
            }
        }
    }
    let dialed: Vec<String> = rig.dials().into_iter().map(|(_, to)| to).collect();
    assert!(dialed.contains(&"+32470000599".to_owned()), "{dialed:?}");
    assert_eq!(dialed.len(), 7);

    // The carrier refuses five dials in a row: the campaign pauses itself.
    let c2 = rig
        .store
        .create_campaign(campaign(
            "Refused",
            json!({ "calls_per_second": 50.0, "cooldown_minutes": 0 }),
        ))
        .await
        .expect("campaign");
    let mut stopped = rig.store.get_campaign(&c.id).await.expect("campaign");
    stopped.status = "stopped".into();
    rig.store.update_campaign(stopped).await.expect("stop");
    for _ in 0..5 {
        rig.fake.script(
            "/v2/calls",
            500,
            json!({"errors": [{"code": "90015", "title": "Telephony error", "detail": "Upstream failure"}]}),
        );
    }
    for _ in 0..10 {
        rig.dialer.tick().await.expect("tick");
        rig.advance(Duration::from_secs(60));
    }
    let paused = rig.store.get_campaign(&c2.id).await.expect("campaign");
    assert_eq!(paused.status, "paused");
    assert_eq!(paused.paused_reason.as_deref(), Some("carrier_failures"));
}

/// A draining appliance (an upgrade, a shutdown) stops dialling and gives its campaign
/// leases back at once, so the next process takes the campaigns without waiting for
/// the leases to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_appliance_gives_its_campaigns_back() {
    let rig = rig(ms("2027-03-10T10:00:00Z"), 10).await;
    rig.store
        .upsert_customers(vec![customer("D", "+32470000601", "BE")])
        .await
        .expect("customer");
    let c = rig
        .store
        .create_campaign(campaign("Drain", json!({})))
        .await
        .expect("campaign");
    rig.dialer.tick().await.expect("tick");
    let lease = format!("dialer:campaign:{}", c.id);
    assert_eq!(
        rig.store.acquire_lease(&lease, "successor", 15_000).await,
        Ok(false)
    );
    Arc::clone(&rig.dialer).run_until(async {}).await;
    assert_eq!(
        rig.store.acquire_lease(&lease, "successor", 15_000).await,
        Ok(true),
        "released on drain"
    );
}

/// A call still going when its campaign is stopped is settled when it ends: its phone
/// is not left "in a live call" for other campaigns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_campaigns_calls_are_still_settled() {
    let rig = rig(ms("2027-03-10T10:00:00Z"), 10).await;
    rig.store
        .upsert_customers(vec![customer("S", "+32470000701", "BE")])
        .await
        .expect("customer");
    let c = rig
        .store
        .create_campaign(campaign("Stopped", json!({})))
        .await
        .expect("campaign");
    rig.dialer.tick().await.expect("tick");
    let (call_id, _) = rig.dials().remove(0);
    let mut stopped = rig.store.get_campaign(&c.id).await.expect("campaign");
    stopped.status = "stopped".into();
    rig.store.update_campaign(stopped).await.expect("stop");
    rig.advance(Duration::from_secs(30));
    rig.answer_and_end(&call_id, true).await;
    rig.dialer.tick().await.expect("tick");
    let a = rig.attempts(&c.id).await.remove(0);
    assert_eq!(
        (a.state, a.disposition.as_deref()),
        (AttemptState::Ended, Some("completed"))
    );
    assert_eq!(
        rig.dials().len(),
        1,
        "nothing dialled for a stopped campaign"
    );
}
