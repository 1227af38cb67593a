//! [`AuditStore`] on MongoDB: the append-only audit log.

use super::support::*;
use super::{encode, err, MongoStore};
use crate::model::{AuditEntry, AuditQuery, Page};
use crate::store::{AuditStore, StoreResult};
use async_trait::async_trait;
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
        if let Some(range) = millis_range(query.since, query.until) {
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
        page_of(cursor, query.limit).await
    }
}
