//! [`CampaignStore`] on MongoDB: campaigns (versioned) and call attempts, whose
//! `attempt_no` is max + 1 guarded by a unique index.

use super::support::*;
use super::{err, err_on, is_duplicate, with_id, without_id, MongoStore};
use crate::model::{now_millis, AttemptState, CallAttempt, Campaign, Millis};
use crate::store::{CampaignStore, StoreError, StoreResult};
use async_trait::async_trait;
use mongodb::bson::doc;

#[async_trait]
impl CampaignStore for MongoStore {
    async fn create_campaign(&self, campaign: Campaign) -> StoreResult<Campaign> {
        self.ready().await?;
        self.coll("campaigns")
            .insert_one(with_id(&campaign, &campaign.id)?)
            .await
            .map_err(err_on("name"))?;
        Ok(campaign)
    }

    async fn get_campaign(&self, id: &str) -> StoreResult<Campaign> {
        self.ready().await?;
        self.one("campaigns", doc! { "_id": id }).await
    }

    async fn update_campaign(&self, campaign: Campaign) -> StoreResult<Campaign> {
        self.ready().await?;
        let mut next = campaign;
        let expected = next.version;
        next.version += 1;
        next.updated_at = now_millis().max(next.updated_at);
        self.replace_versioned("campaigns", &next.id, expected, with_id(&next, &next.id)?)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { field } if field == "call_control_id" => {
                    StoreError::Conflict {
                        field: "name".into(),
                    }
                }
                other => other,
            })?;
        Ok(next)
    }

    async fn list_campaigns(&self) -> StoreResult<Vec<Campaign>> {
        self.ready().await?;
        self.all("campaigns", doc! {}, doc! { "created_at": -1, "_id": -1 })
            .await
    }

    async fn delete_draft_campaign(&self, id: &str) -> StoreResult<()> {
        self.ready().await?;
        let gone = self
            .coll("campaigns")
            .delete_one(doc! { "_id": id, "status": "draft" })
            .await
            .map_err(err)?;
        if gone.deleted_count == 1 {
            return Ok(());
        }
        match self.get_campaign(id).await {
            Ok(_) => Err(StoreError::Conflict {
                field: "status".into(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn record_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt> {
        self.insert_next_attempt(attempt, false).await
    }

    async fn reserve_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt> {
        let attempt = CallAttempt {
            state: AttemptState::Reserved,
            ..attempt
        };
        self.insert_next_attempt(attempt, true).await
    }

    async fn settle_attempt(
        &self,
        attempt: CallAttempt,
        from: &[AttemptState],
    ) -> StoreResult<CallAttempt> {
        self.ready().await?;
        let states: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let done = self
            .coll("call_attempts")
            .replace_one(
                doc! { "_id": &attempt.id, "state": { "$in": states } },
                with_id(&attempt, &attempt.id)?,
            )
            .await
            .map_err(err)?;
        if done.matched_count == 1 {
            return Ok(attempt);
        }
        match self
            .one::<CallAttempt>("call_attempts", doc! { "_id": &attempt.id })
            .await
        {
            Ok(_) => Err(StoreError::Conflict {
                field: "state".into(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn open_attempts_before(&self, cutoff: Millis) -> StoreResult<Vec<CallAttempt>> {
        self.ready().await?;
        self.all(
            "call_attempts",
            doc! { "state": { "$in": ["reserved", "dialed"] }, "started_at": { "$lt": cutoff } },
            doc! { "started_at": 1, "_id": 1 },
        )
        .await
    }

    async fn list_attempts(
        &self,
        campaign_id: &str,
        phone_e164: &str,
    ) -> StoreResult<Vec<CallAttempt>> {
        self.ready().await?;
        self.all(
            "call_attempts",
            doc! { "campaign_id": campaign_id, "phone_e164": phone_e164 },
            doc! { "attempt_no": 1 },
        )
        .await
    }
}

impl MongoStore {
    /// Inserts `attempt` as the next number of its campaign and phone; with
    /// `refuse_open`, refuses (`Conflict in_flight`) while the latest one is open. Two
    /// writers that read the same latest attempt insert the same number: the unique
    /// index lets one in, and the other reads again (and, reserving, finds it open).
    async fn insert_next_attempt(
        &self,
        attempt: CallAttempt,
        refuse_open: bool,
    ) -> StoreResult<CallAttempt> {
        self.ready().await?;
        for n in 0..SEQUENCE_ATTEMPTS {
            let filter =
                doc! { "campaign_id": &attempt.campaign_id, "phone_e164": &attempt.phone_e164 };
            let latest: Option<CallAttempt> = self
                .coll("call_attempts")
                .find_one(filter)
                .sort(doc! { "attempt_no": -1 })
                .await
                .map_err(err)?
                .map(without_id)
                .transpose()?;
            if refuse_open && latest.as_ref().is_some_and(|l| l.state.is_open()) {
                return Err(StoreError::Conflict {
                    field: "in_flight".into(),
                });
            }
            let mut a = attempt.clone();
            a.attempt_no = latest.map_or(1, |l| l.attempt_no + 1);
            match self
                .coll("call_attempts")
                .insert_one(with_id(&a, &a.id)?)
                .await
            {
                Ok(_) => return Ok(a),
                Err(e) if is_duplicate(&e) => backoff(n).await,
                Err(e) => return Err(err(e)),
            }
        }
        Err(StoreError::Unavailable(
            "attempt numbering contended".into(),
        ))
    }
}
