//! [`WebhookEventStore`] on MongoDB: webhook deliveries recorded once by event id,
//! then marked processed.

use super::support::*;
use super::{err, MongoStore};
use crate::model::{now_millis, Millis, NewWebhookEvent, WebhookEvent};
use crate::store::{StoreResult, WebhookEventStore};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;

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
