//! DNC, field definitions, webhook events and the audit log on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Transaction};

use super::{err, SqliteStore};
use crate::store::model::{
    now_millis, prefix_end, AuditEntry, DncEntry, DncSource, FieldDef, Millis, NewWebhookEvent,
    Page, WebhookEvent,
};
use crate::store::{
    AuditStore, DncStore, FieldDefStore, StoreError, StoreResult, WebhookEventStore,
};

/// Recomputes the `opt_out` flag of every contact row that has one of `phones`.
fn refresh_opt_out(tx: &Transaction<'_>, phones: &[String]) -> StoreResult<()> {
    let mut s = tx
        .prepare_cached(
            "UPDATE contacts SET opt_out =
                 (EXISTS (SELECT 1 FROM dnc WHERE phone_e164 = contacts.phone)
                  OR EXISTS (SELECT 1 FROM dnc WHERE phone_e164 = contacts.mobile))
             WHERE phone = ?1 OR mobile = ?1",
        )
        .map_err(err)?;
    for p in phones {
        s.execute([p]).map_err(err)?;
    }
    Ok(())
}

#[async_trait]
impl DncStore for SqliteStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64> {
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            let mut added = Vec::new();
            {
                let mut s = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO dnc (phone_e164, reason, source, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(err)?;
                for e in &entries {
                    if s.execute(params![e.phone_e164, e.reason, e.source.as_str(), e.added_by, e.added_at])
                        .map_err(err)?
                        == 1
                    {
                        added.push(e.phone_e164.clone());
                    }
                }
            }
            refresh_opt_out(&tx, &added)?;
            tx.commit().map_err(err)?;
            Ok(added.len() as u64)
        })
        .await
    }

    async fn remove_dnc(&self, phones: &[String]) -> StoreResult<u64> {
        let phones = phones.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            let mut removed = Vec::new();
            {
                let mut s = tx
                    .prepare_cached("DELETE FROM dnc WHERE phone_e164 = ?1")
                    .map_err(err)?;
                for p in &phones {
                    if s.execute([p]).map_err(err)? == 1 {
                        removed.push(p.clone());
                    }
                }
            }
            refresh_opt_out(&tx, &removed)?;
            tx.commit().map_err(err)?;
            Ok(removed.len() as u64)
        })
        .await
    }

    async fn dnc_lookup(&self, phones: &[String]) -> StoreResult<Vec<String>> {
        let phones = phones.to_vec();
        self.read(move |conn| {
            let mut s = conn
                .prepare_cached("SELECT 1 FROM dnc WHERE phone_e164 = ?1")
                .map_err(err)?;
            let mut out = Vec::new();
            for p in phones {
                if s.exists([&p]).map_err(err)? {
                    out.push(p);
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        })
        .await
    }

    async fn list_dnc(
        &self,
        prefix: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<DncEntry>> {
        let prefix = prefix.unwrap_or("").to_owned();
        self.read(move |conn| {
            let mut s = conn
                .prepare_cached(
                    "SELECT phone_e164, reason, source, added_by, added_at FROM dnc
                     WHERE phone_e164 >= ?1 AND phone_e164 < ?2 ORDER BY phone_e164 LIMIT ?3 OFFSET ?4",
                )
                .map_err(err)?;
            let items = s
                .query_map(
                    params![
                        prefix,
                        prefix_end(&prefix),
                        i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    |r| {
                        let source: String = r.get(2)?;
                        Ok(DncEntry {
                            phone_e164: r.get(0)?,
                            reason: r.get(1)?,
                            source: DncSource::parse(&source).unwrap_or(DncSource::System),
                            added_by: r.get(3)?,
                            added_at: r.get(4)?,
                        })
                    },
                )
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(Page::from_overfetch(items, limit))
        })
        .await
    }
}

fn def_doc(def: &FieldDef) -> StoreResult<String> {
    serde_json::to_string(def).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[async_trait]
impl FieldDefStore for SqliteStore {
    async fn create_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO prospect_field_defs (id, key, sort_order, doc) VALUES (?1, ?2, ?3, ?4)",
                params![def.id, def.key, def.order, def_doc(&def)?],
            )
            .map_err(err)?;
            Ok(def)
        })
        .await
    }

    async fn update_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE prospect_field_defs SET key = ?2, sort_order = ?3, doc = ?4 WHERE id = ?1",
                    params![def.id, def.key, def.order, def_doc(&def)?],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(def)
        })
        .await
    }

    async fn delete_field_def(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            match conn
                .execute("DELETE FROM prospect_field_defs WHERE id = ?1", [&id])
                .map_err(err)?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list_field_defs(&self) -> StoreResult<Vec<FieldDef>> {
        self.read(|conn| {
            let mut s = conn
                .prepare_cached("SELECT doc FROM prospect_field_defs ORDER BY sort_order, key")
                .map_err(err)?;
            let docs = s
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            docs.iter()
                .map(|d| {
                    serde_json::from_str(d)
                        .map_err(|e| StoreError::Unavailable(format!("corrupt field def: {e}")))
                })
                .collect()
        })
        .await
    }
}

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

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![entry.at, entry.actor, entry.action, entry.target, entry.detail]))
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, limit: u64) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| {
            let mut s = conn
                .prepare_cached("SELECT at, actor, action, target, detail FROM audit_log ORDER BY at DESC, seq DESC LIMIT ?1")
                .map_err(err)?;
            let rows = s
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok(AuditEntry {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        target: r.get(3)?,
                        detail: r.get(4)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err);
            rows
        })
        .await
    }
}
