//! [`AuditStore`] on MongoDB: the append-only audit log.

use super::support::*;
use super::{decode, encode, err, MongoStore};
use crate::model::{AuditEntry, AuditQuery, Page};
use crate::store::{AuditStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

#[async_trait]
impl AuditStore for MongoStore {
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.ready().await?;
        self.coll("audit_log")
            .insert_one(encode(&entry)?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>> {
        self.ready().await?;
        let mut filter = Document::new();
        if let Some(actor) = &query.actor {
            filter.insert(
                "$or",
                vec![doc! { "actor": actor }, doc! { "actor_id": actor }],
            );
        }
        if let Some(action) = &query.action {
            filter.insert("action", action);
        }
        let mut range = Document::new();
        if let Some(since) = query.since {
            range.insert("$gte", since);
        }
        if let Some(until) = query.until {
            range.insert("$lt", until);
        }
        if !range.is_empty() {
            filter.insert("at", range);
        }
        let cursor = self
            .coll("audit_log")
            .find(filter)
            .sort(doc! { "at": -1, "_id": -1 })
            .skip(query.offset)
            .limit(i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let items = docs
            .into_iter()
            .map(strip_doc_id)
            .map(decode)
            .collect::<StoreResult<Vec<AuditEntry>>>()?;
        Ok(Page::from_overfetch(items, query.limit))
    }
}
