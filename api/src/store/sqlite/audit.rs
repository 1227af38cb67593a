//! [`AuditStore`] on SQLite: the append-only audit log.

use super::{err, SqliteStore};
use crate::model::AuditEntry;
use crate::store::{AuditStore, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

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
