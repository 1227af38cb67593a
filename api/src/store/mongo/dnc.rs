//! [`DncStore`] on MongoDB: the do-not-call list, and the `opt_out` flag of the
//! contact rows it covers.

use super::support::*;
use super::{encode, err, MongoStore};
use crate::model::{opt_out_reason, prefix_end, DncEntry, Page};
use crate::store::{DncStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::FindOptions;

#[async_trait]
impl DncStore for MongoStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64> {
        self.ready().await?;
        let mut entries = entries;
        entries.sort_by(|a, b| a.phone_e164.cmp(&b.phone_e164));
        entries.dedup_by(|a, b| a.phone_e164 == b.phone_e164);
        if entries.is_empty() {
            return Ok(0);
        }
        self.transaction(|store, session| {
            let entries = entries.clone();
            Box::pin(async move {
                let phones: Vec<&str> = entries.iter().map(|e| e.phone_e164.as_str()).collect();
                let existing = store.dnc_phones_in(session, &phones).await?;
                let new: Vec<&DncEntry> = entries.iter().filter(|e| !existing.contains(&e.phone_e164)).collect();
                if new.is_empty() {
                    return Ok(0);
                }
                let docs = new
                    .iter()
                    .map(|e| encode(*e))
                    .collect::<StoreResult<Vec<_>>>()
                    .map_err(mongodb::error::Error::custom)?;
                store.coll(DNC).insert_many(docs).session(&mut *session).await?;
                let added: Vec<&str> = new.iter().map(|e| e.phone_e164.as_str()).collect();
                store
                    .coll(CONTACTS)
                    .update_many(
                        doc! { "$or": [ { "phone": { "$in": &added } }, { "mobile": { "$in": &added } } ] },
                        doc! { "$set": { "opt_out": true } },
                    )
                    .session(&mut *session)
                    .await?;
                for e in &new {
                    store
                        .coll(CONSENTS)
                        .update_one(
                            doc! { "_id": &e.phone_e164, "revoked_at": null },
                            doc! { "$set": { "revoked_at": e.added_at, "revoked_reason": opt_out_reason(e), "updated_at": e.added_at } },
                        )
                        .session(&mut *session)
                        .await?;
                }
                Ok(new.len() as u64)
            })
        })
        .await
    }

    async fn remove_dnc(&self, phones: &[String]) -> StoreResult<u64> {
        self.ready().await?;
        let phones = phones.to_vec();
        self.transaction(|store, session| {
            let phones = phones.clone();
            Box::pin(async move {
                let removed = store
                    .coll(DNC)
                    .delete_many(doc! { "phone_e164": { "$in": &phones } })
                    .session(&mut *session)
                    .await?
                    .deleted_count;
                // Recompute the flag of every row that had one of these numbers.
                let mut cursor = store
                    .coll(CONTACTS)
                    .find(doc! { "$or": [ { "phone": { "$in": &phones } }, { "mobile": { "$in": &phones } } ] })
                    .projection(doc! { "_id": 1, "phone": 1, "mobile": 1 })
                    .session(&mut *session)
                    .await?;
                let mut rows = Vec::new();
                while let Some(d) = cursor.next(&mut *session).await.transpose()? {
                    rows.push(d);
                }
                for row in rows {
                    let numbers: Vec<String> = ["phone", "mobile"]
                        .iter()
                        .filter_map(|k| row.get_str(k).ok().map(str::to_owned))
                        .collect();
                    let still = store
                        .coll(DNC)
                        .find_one(doc! { "phone_e164": { "$in": &numbers } })
                        .session(&mut *session)
                        .await?
                        .is_some();
                    store
                        .coll(CONTACTS)
                        .update_one(doc! { "_id": row.get("_id").cloned() }, doc! { "$set": { "opt_out": still } })
                        .session(&mut *session)
                        .await?;
                }
                Ok(removed)
            })
        })
        .await
    }

    async fn dnc_lookup(&self, phones: &[String]) -> StoreResult<Vec<String>> {
        self.ready().await?;
        let cursor = self
            .coll(DNC)
            .find(doc! { "phone_e164": { "$in": phones } })
            .projection(doc! { "phone_e164": 1 })
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let mut out: Vec<String> = docs
            .iter()
            .filter_map(|d| d.get_str("phone_e164").ok().map(str::to_owned))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn list_dnc(
        &self,
        prefix: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<DncEntry>> {
        self.ready().await?;
        let prefix = prefix.unwrap_or("");
        let cursor = self
            .coll(DNC)
            .find(doc! { "phone_e164": { "$gte": prefix, "$lt": prefix_end(prefix) } })
            .with_options(
                FindOptions::builder()
                    .sort(doc! { "phone_e164": 1 })
                    .skip(offset)
                    .limit(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                    .build(),
            )
            .await
            .map_err(err)?;
        page_of(cursor, limit).await
    }
}
