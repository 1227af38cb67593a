//! DNC, field definitions, webhook events and the audit log on MongoDB.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::FindOptions;

use super::{decode, encode, err, err_on, with_id, MongoStore};
use mongodb::error::ErrorKind;

use crate::store::model::{
    now_millis, prefix_end, AuditEntry, DncEntry, FieldDef, Millis, NewWebhookEvent, Page,
    WebhookEvent,
};
use crate::store::{AuditStore, DncStore, FieldDefStore, StoreResult, WebhookEventStore};

const DNC: &str = "dnc";
const WEBHOOK_EVENTS: &str = "webhook_events";
const CONTACTS: &str = "prospect_contacts";

fn strip_id(mut d: Document) -> Document {
    d.remove("_id");
    d
}

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
                let mut cursor = store
                    .coll(DNC)
                    .find(doc! { "phone_e164": { "$in": &phones } })
                    .projection(doc! { "phone_e164": 1 })
                    .session(&mut *session)
                    .await?;
                let mut existing = Vec::new();
                while let Some(d) = cursor.next(&mut *session).await.transpose()? {
                    existing.push(d.get_str("phone_e164").unwrap_or_default().to_owned());
                }
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
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let items = docs
            .into_iter()
            .map(strip_id)
            .map(decode)
            .collect::<StoreResult<Vec<DncEntry>>>()?;
        Ok(Page::from_overfetch(items, limit))
    }
}

#[async_trait]
impl FieldDefStore for MongoStore {
    async fn create_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.ready().await?;
        self.coll("prospect_field_defs")
            .insert_one(with_id(&def, &def.id)?)
            .await
            .map_err(err_on("key"))?;
        Ok(def)
    }

    async fn update_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.ready().await?;
        self.replace_by_id(
            "prospect_field_defs",
            &def.id,
            with_id(&def, &def.id)?,
            "key",
        )
        .await?;
        Ok(def)
    }

    async fn delete_field_def(&self, id: &str) -> StoreResult<()> {
        self.ready().await?;
        self.delete_by_id("prospect_field_defs", id).await
    }

    async fn list_field_defs(&self) -> StoreResult<Vec<FieldDef>> {
        self.ready().await?;
        self.all(
            "prospect_field_defs",
            doc! {},
            doc! { "order": 1, "key": 1 },
        )
        .await
    }
}

#[async_trait]
impl WebhookEventStore for MongoStore {
    async fn record_webhook_events(&self, events: Vec<NewWebhookEvent>) -> StoreResult<Vec<bool>> {
        self.ready().await?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let docs: Vec<Document> = events
            .iter()
            .map(|e| {
                doc! {
                    "event_id": &e.event_id,
                    "event_type": &e.event_type,
                    "received_at": now,
                    "payload": &e.payload,
                    "processed": false,
                }
            })
            .collect();
        let mut out = vec![true; events.len()];
        // Unordered: every new id is written; duplicates fail alone, with their index.
        match self
            .coll(WEBHOOK_EVENTS)
            .insert_many(docs)
            .ordered(false)
            .await
        {
            Ok(_) => {}
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(m)
                    if m.write_concern_error.is_none()
                        && m.write_errors
                            .as_ref()
                            .is_some_and(|w| w.iter().all(|x| x.code == 11000)) =>
                {
                    for w in m.write_errors.iter().flatten() {
                        if let Some(slot) = out.get_mut(w.index) {
                            *slot = false;
                        }
                    }
                }
                _ => return Err(err(e)),
            },
        }
        Ok(out)
    }

    async fn mark_webhook_events_processed(&self, event_ids: Vec<String>) -> StoreResult<()> {
        self.ready().await?;
        if event_ids.is_empty() {
            return Ok(());
        }
        self.coll(WEBHOOK_EVENTS)
            .update_many(
                doc! { "event_id": { "$in": event_ids } },
                doc! { "$set": { "processed": true } },
            )
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn pending_webhook_events(
        &self,
        received_before: Millis,
        limit: u64,
    ) -> StoreResult<Vec<WebhookEvent>> {
        self.ready().await?;
        // MongoDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .coll(WEBHOOK_EVENTS)
            .find(doc! { "processed": false, "received_at": { "$lt": received_before } })
            .sort(doc! { "received_at": 1, "event_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(err)?
            .try_collect()
            .await
            .map_err(err)?;
        Ok(docs
            .into_iter()
            .map(|d| WebhookEvent {
                event_id: d.get_str("event_id").unwrap_or_default().to_owned(),
                event_type: d.get_str("event_type").unwrap_or_default().to_owned(),
                payload: d.get_str("payload").unwrap_or_default().to_owned(),
                received_at: d.get_i64("received_at").unwrap_or_default(),
            })
            .collect())
    }
}

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
        docs.into_iter().map(strip_id).map(decode).collect()
    }
}
