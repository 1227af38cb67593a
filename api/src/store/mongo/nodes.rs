//! [`NodeStore`] on MongoDB: one document per node life (`_id` is `id/epoch`). The
//! heartbeat is `$currentDate` and it is judged against `$$NOW`, both the server's
//! clock; compared as `{$toLong: ...}` because SecantusDB mis-evaluates `$$NOW` in date
//! comparisons.

use super::support::NODES;
use super::{decode, encode, err, MongoStore};
use crate::model::{Millis, NodeRecord, NodeStatus};
use crate::store::{NodeStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

fn key(id: &str, epoch: &str) -> String {
    format!("{id}/{epoch}")
}

fn int(b: Option<&Bson>) -> Option<i64> {
    match b {
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Double(n)) => Some(n.round() as i64),
        _ => None,
    }
}

/// Silent for at least its ttl, by the server's clock.
fn expired() -> Document {
    doc! { "$expr": { "$gte": [
        { "$subtract": [{ "$toLong": "$$NOW" }, { "$toLong": "$heartbeat" }] },
        "$ttl_ms",
    ] } }
}

#[async_trait]
impl NodeStore for MongoStore {
    async fn register_node(&self, node: NodeRecord, ttl_ms: i64) -> StoreResult<()> {
        self.ready().await?;
        let set = doc! {
            "id": &node.id,
            "started_at": node.started_at,
            "node": encode(&node)?,
            "ttl_ms": ttl_ms,
        };
        // Again for the same life: a fresh heartbeat, unless it was declared lost
        // (then the filter misses, the insert hits the `_id`, and it stays lost).
        let res = self
            .coll(NODES)
            .update_one(
                doc! { "_id": key(&node.id, &node.epoch), "lost_at": Bson::Null },
                doc! {
                    "$set": set,
                    "$setOnInsert": { "lost_at": Bson::Null },
                    "$currentDate": { "heartbeat": true },
                },
            )
            .upsert(true)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if super::is_duplicate(&e) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn heartbeat_node(&self, id: &str, epoch: &str, ttl_ms: i64) -> StoreResult<bool> {
        self.ready().await?;
        let r = self
            .coll(NODES)
            .update_one(
                doc! { "_id": key(id, epoch), "lost_at": Bson::Null },
                doc! { "$set": { "ttl_ms": ttl_ms }, "$currentDate": { "heartbeat": true } },
            )
            .await
            .map_err(err)?;
        Ok(r.matched_count == 1)
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeStatus>> {
        self.ready().await?;
        let cursor = self
            .coll(NODES)
            .aggregate(vec![
                doc! { "$sort": { "id": 1, "started_at": 1, "_id": 1 } },
                doc! { "$addFields": { "silent_ms": { "$subtract": [
                    { "$toLong": "$$NOW" }, { "$toLong": "$heartbeat" },
                ] } } },
            ])
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter()
            .map(|d| {
                let node: NodeRecord = decode(d.get_document("node").cloned().unwrap_or_default())?;
                let silent_ms = int(d.get("silent_ms")).unwrap_or(i64::MAX);
                let ttl_ms = int(d.get("ttl_ms")).unwrap_or(0);
                let lost_at = int(d.get("lost_at"));
                Ok(NodeStatus {
                    node,
                    silent_ms,
                    ttl_ms,
                    alive: lost_at.is_none() && silent_ms < ttl_ms,
                    lost_at,
                })
            })
            .collect()
    }

    async fn claim_lost_node(&self, id: &str, epoch: &str, at: Millis) -> StoreResult<bool> {
        self.ready().await?;
        let mut filter = doc! { "_id": key(id, epoch), "lost_at": Bson::Null };
        filter.extend(expired());
        let r = self
            .coll(NODES)
            .update_one(filter, doc! { "$set": { "lost_at": at } })
            .await
            .map_err(err)?;
        Ok(r.modified_count == 1)
    }

    async fn remove_node(&self, id: &str, epoch: &str) -> StoreResult<()> {
        self.ready().await?;
        self.coll(NODES)
            .delete_one(doc! { "_id": key(id, epoch) })
            .await
            .map_err(err)?;
        Ok(())
    }
}
