//! [`CallStore`] on MongoDB: calls (versioned replace) and transcript turns. Turn
//! `seq` is taken as max + 1 and guarded by a unique index: a concurrent writer that
//! took the same number retries.

use super::support::*;
use super::{encode, err, is_duplicate, with_id, without_id, MongoStore};
use crate::model::{now_millis, Call, CallQuery, CallStatus, Page, Turn};
use crate::store::{CallChanges, CallStore, StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use mongodb::bson::{doc, Document};
use mongodb::options::FullDocumentType;

/// MongoDB's answer to a change stream on a server that is not a replica set
/// (`The $changeStream stage is only supported on replica sets`).
const CHANGE_STREAMS_UNSUPPORTED: i32 = 40573;

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
                        .find_one(doc! { "_id": call.id.as_str() })
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
        if let Some(s) = query.status {
            f.insert("status", s.as_str());
        }
        if let Some(d) = query.direction {
            f.insert("direction", d.as_str());
        }
        for (key, v) in [
            ("phone", &query.phone),
            ("campaign_id", &query.campaign_id),
            ("customer_id", &query.customer_id.clone().map(String::from)),
            ("owner.epoch", &query.owner_epoch),
        ] {
            if let Some(v) = v {
                f.insert(key, v.clone());
            }
        }
        if let Some(range) = millis_range(query.from, query.to) {
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

    async fn count_calls_in(&self, statuses: &[CallStatus]) -> StoreResult<u64> {
        self.ready().await?;
        let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        self.coll("calls")
            .count_documents(doc! { "status": { "$in": statuses } })
            .await
            .map_err(err)
    }

    async fn watch_calls(&self) -> StoreResult<Option<CallChanges>> {
        self.ready().await?;
        let opened = self
            .coll("calls")
            .watch()
            .pipeline([doc! { "$match": {
                "operationType": { "$in": ["insert", "update", "replace"] },
            } }])
            .full_document(FullDocumentType::UpdateLookup)
            .await;
        let stream = match opened {
            Ok(s) => s,
            Err(e) if command_code(&e) == Some(CHANGE_STREAMS_UNSUPPORTED) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        // An event whose document is already gone again has nothing to show.
        let calls = stream.filter_map(|event| async move {
            match event {
                Ok(event) => event.full_document.map(without_id::<Call>),
                Err(e) => Some(Err(err(e))),
            }
        });
        Ok(Some(calls.boxed()))
    }
}

/// The server's error code of a failed command, if it was one.
fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        mongodb::error::ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}
