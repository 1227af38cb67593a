//! Agent profiles, calls with transcript turns, campaigns and attempts on MongoDB.
//! Sequence numbers (turn `seq`, `attempt_no`) are taken as max + 1 and guarded by a
//! unique index: a concurrent writer that took the same number retries.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use serde::de::DeserializeOwned;

use super::{decode, encode, err, err_on, is_duplicate, with_id, without_id, MongoStore};
use crate::store::model::{
    now_millis, AgentProfile, Call, CallAttempt, CallQuery, Campaign, Page, Turn,
};
use crate::store::{AgentStore, CallStore, CampaignStore, StoreError, StoreResult};

const SEQUENCE_ATTEMPTS: u32 = 50;

fn strip_id<T: DeserializeOwned>(mut d: Document) -> StoreResult<T> {
    d.remove("_id");
    d.remove("call_id");
    decode(d)
}

async fn backoff(attempt: u32) {
    let cap = 2u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % cap + 1)).await;
}

impl MongoStore {
    /// Replaces `_id: id` if its version is `expected`, else tells why not.
    async fn replace_versioned(
        &self,
        coll: &str,
        id: &str,
        expected: i64,
        doc: Document,
    ) -> StoreResult<()> {
        let res = self
            .coll(coll)
            .replace_one(doc! { "_id": id, "version": expected }, doc)
            .await
            .map_err(err_on("call_control_id"))?;
        if res.matched_count == 1 {
            return Ok(());
        }
        let exists = self
            .coll(coll)
            .find_one(doc! { "_id": id })
            .await
            .map_err(err)?
            .is_some();
        Err(if exists {
            StoreError::Conflict {
                field: "version".into(),
            }
        } else {
            StoreError::NotFound
        })
    }

    /// The next number of a sequence: 1 + the highest `field` among `filter`'s documents.
    async fn next_number(&self, coll: &str, filter: Document, field: &str) -> StoreResult<i64> {
        let last = self
            .coll(coll)
            .find_one(filter)
            .sort(doc! { field: -1 })
            .await
            .map_err(err)?;
        Ok(last.and_then(|d| d.get_i64(field).ok()).unwrap_or(0) + 1)
    }
}

#[async_trait]
impl AgentStore for MongoStore {
    async fn create_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.coll("agent_profiles")
            .insert_one(with_id(&agent, &agent.id)?)
            .await
            .map_err(err_on("name"))?;
        Ok(agent)
    }

    async fn get_agent(&self, id: &str) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.one("agent_profiles", doc! { "_id": id }).await
    }

    async fn update_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.replace_by_id(
            "agent_profiles",
            &agent.id,
            with_id(&agent, &agent.id)?,
            "name",
        )
        .await?;
        Ok(agent)
    }

    async fn delete_agent(&self, id: &str) -> StoreResult<()> {
        self.ready().await?;
        self.delete_by_id("agent_profiles", id).await
    }

    async fn list_agents(&self) -> StoreResult<Vec<AgentProfile>> {
        self.ready().await?;
        self.all("agent_profiles", doc! {}, doc! { "name": 1, "_id": 1 })
            .await
    }
}

#[async_trait]
impl CallStore for MongoStore {
    async fn create_call(&self, call: Call) -> StoreResult<Call> {
        self.ready().await?;
        let res = self
            .coll("calls")
            .insert_one(with_id(&call, &call.id)?)
            .await;
        match res {
            Ok(_) => Ok(call),
            Err(e) if is_duplicate(&e) => {
                // Name the key that collided.
                let field = match &call.idempotency_key {
                    Some(k)
                        if self
                            .coll("calls")
                            .find_one(doc! { "idempotency_key": k })
                            .await
                            .map_err(err)?
                            .is_some() =>
                    {
                        "idempotency_key"
                    }
                    _ if self
                        .coll("calls")
                        .find_one(doc! { "_id": &call.id })
                        .await
                        .map_err(err)?
                        .is_some() =>
                    {
                        "id"
                    }
                    _ => "call_control_id",
                };
                Err(StoreError::Conflict {
                    field: field.into(),
                })
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn get_call(&self, id: &str) -> StoreResult<Call> {
        self.ready().await?;
        self.one("calls", doc! { "_id": id }).await
    }

    async fn find_call_by_control_id(&self, call_control_id: &str) -> StoreResult<Call> {
        self.ready().await?;
        self.one("calls", doc! { "call_control_id": call_control_id })
            .await
    }

    async fn find_call_by_idempotency_key(&self, key: &str) -> StoreResult<Call> {
        self.ready().await?;
        self.one("calls", doc! { "idempotency_key": key }).await
    }

    async fn update_call(&self, call: Call) -> StoreResult<Call> {
        self.ready().await?;
        let mut next = call;
        let expected = next.version;
        next.version += 1;
        next.updated_at = now_millis().max(next.updated_at);
        self.replace_versioned("calls", &next.id, expected, with_id(&next, &next.id)?)
            .await?;
        Ok(next)
    }

    async fn append_turn(&self, call_id: &str, turn: Turn) -> StoreResult<i64> {
        self.ready().await?;
        if self
            .coll("calls")
            .find_one(doc! { "_id": call_id })
            .await
            .map_err(err)?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        for attempt in 0..SEQUENCE_ATTEMPTS {
            let seq = self
                .next_number("call_turns", doc! { "call_id": call_id }, "seq")
                .await?;
            let mut t = turn.clone();
            t.seq = seq;
            let mut d = encode(&t)?;
            d.insert("call_id", call_id);
            match self.coll("call_turns").insert_one(d).await {
                Ok(_) => return Ok(seq),
                Err(e) if is_duplicate(&e) => backoff(attempt).await,
                Err(e) => return Err(err(e)),
            }
        }
        Err(StoreError::Unavailable("turn sequence contended".into()))
    }

    async fn list_turns(&self, call_id: &str) -> StoreResult<Vec<Turn>> {
        self.ready().await?;
        let cursor = self
            .coll("call_turns")
            .find(doc! { "call_id": call_id })
            .sort(doc! { "seq": 1 })
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(strip_id).collect()
    }

    async fn list_calls(&self, query: &CallQuery) -> StoreResult<Page<Call>> {
        self.ready().await?;
        let mut f = Document::new();
        for (key, v) in [
            ("status", &query.status),
            ("phone", &query.phone),
            ("campaign_id", &query.campaign_id),
            ("customer_id", &query.customer_id),
        ] {
            if let Some(v) = v {
                f.insert(key, v.clone());
            }
        }
        let mut range = Document::new();
        if let Some(from) = query.from {
            range.insert("$gte", from);
        }
        if let Some(to) = query.to {
            range.insert("$lt", to);
        }
        if !range.is_empty() {
            f.insert("started_at", range);
        }
        let cursor = self
            .coll("calls")
            .find(f)
            .sort(doc! { "started_at": -1, "_id": -1 })
            .skip(query.offset)
            .limit(i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let items = docs
            .into_iter()
            .map(without_id)
            .collect::<StoreResult<Vec<Call>>>()?;
        Ok(Page::from_overfetch(items, query.limit))
    }

    async fn count_calls_in(&self, statuses: &[&str]) -> StoreResult<u64> {
        self.ready().await?;
        self.coll("calls")
            .count_documents(doc! { "status": { "$in": statuses } })
            .await
            .map_err(err)
    }
}

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

    async fn record_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt> {
        self.ready().await?;
        for n in 0..SEQUENCE_ATTEMPTS {
            let filter =
                doc! { "campaign_id": &attempt.campaign_id, "phone_e164": &attempt.phone_e164 };
            let mut a = attempt.clone();
            a.attempt_no = self
                .next_number("call_attempts", filter, "attempt_no")
                .await?;
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
