//! [`WebhookEventStore`] on SQLite: webhook deliveries recorded once by event id,
//! then marked processed.

use super::{err, SqliteStore};
use crate::model::{now_millis, Millis, NewWebhookEvent, WebhookEvent};
use crate::store::{StoreResult, WebhookEventStore};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl WebhookEventStore for SqliteStore {
    async fn record_webhook_events(&self, events: Vec<NewWebhookEvent>) -> StoreResult<Vec<bool>> {
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            let now = now_millis();
            let mut out = Vec::with_capacity(events.len());
            {
                let mut s = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO webhook_events (event_id, event_type, received_at, payload, processed) VALUES (?1, ?2, ?3, ?4, 0)",
                    )
                    .map_err(err)?;
                for e in &events {
                    let n = s
                        .execute(params![e.event_id, e.event_type, now, e.payload])
                        .map_err(err)?;
                    out.push(n == 1);
                }
            }
            tx.commit().map_err(err)?;
            Ok(out)
        })
        .await
    }

    async fn mark_webhook_events_processed(&self, event_ids: Vec<String>) -> StoreResult<()> {
        if event_ids.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            {
                let mut s = tx
                    .prepare_cached("UPDATE webhook_events SET processed = 1 WHERE event_id = ?1")
                    .map_err(err)?;
                for id in &event_ids {
                    s.execute([id]).map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn pending_webhook_events(
        &self,
        received_before: Millis,
        limit: u64,
    ) -> StoreResult<Vec<WebhookEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut s = conn
                .prepare_cached(
                    "SELECT event_id, event_type, payload, received_at FROM webhook_events
                     WHERE processed = 0 AND received_at < ?1 ORDER BY received_at, event_id LIMIT ?2",
                )
                .map_err(err)?;
            let rows = s
                .query_map(params![received_before, limit], |r| {
                    Ok(WebhookEvent {
                        event_id: r.get(0)?,
                        event_type: r.get(1)?,
                        payload: r.get(2)?,
                        received_at: r.get(3)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(rows)
        })
        .await
    }
}
