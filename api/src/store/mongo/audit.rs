//! [`AuditStore`] on MongoDB: the append-only audit log.

use super::support::*;
use super::{decode, encode, err, MongoStore};
use crate::model::AuditEntry;
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

    async fn list_audit(&self, limit: u64) -> StoreResult<Vec<AuditEntry>> {
        self.ready().await?;
        // MongoDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor = self
            .coll("audit_log")
            .find(doc! {})
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(strip_doc_id).map(decode).collect()
    }
}
