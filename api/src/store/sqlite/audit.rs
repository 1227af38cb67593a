//! [`AuditStore`] on SQLite: the append-only audit log.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};

use super::{err, SqliteStore};
use crate::model::{AuditEntry, AuditQuery, Page};
use crate::store::{AuditStore, StoreResult};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO audit_log (at, actor, actor_id, action, target, detail, client_ip, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.at,
                    entry.actor,
                    entry.actor_id,
                    entry.action,
                    entry.target,
                    entry.detail,
                    entry.client_ip,
                    entry.request_id
                ])
            })
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>> {
        let mut sql = String::from(
            "SELECT at, actor, actor_id, action, target, detail, client_ip, request_id FROM audit_log WHERE 1 = 1",
        );
        let mut args = Vec::new();
        if let Some(actor) = &query.actor {
            sql.push_str(" AND (actor = ? OR actor_id = ?)");
            args.push(SqlValue::Text(actor.clone()));
            args.push(SqlValue::Text(actor.clone()));
        }
        if let Some(action) = &query.action {
            sql.push_str(" AND action = ?");
            args.push(SqlValue::Text(action.clone()));
        }
        if let Some(since) = query.since {
            sql.push_str(" AND at >= ?");
            args.push(SqlValue::Integer(since));
        }
        if let Some(until) = query.until {
            sql.push_str(" AND at < ?");
            args.push(SqlValue::Integer(until));
        }
        sql.push_str(" ORDER BY at DESC, seq DESC LIMIT ? OFFSET ?");
        args.push(SqlValue::Integer(
            i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX),
        ));
        args.push(SqlValue::Integer(
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        ));
        let limit = query.limit;
        self.read(move |conn| {
            let mut s = conn.prepare_cached(&sql).map_err(err)?;
            let rows = s
                .query_map(params_from_iter(args), |r| {
                    Ok(AuditEntry {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        actor_id: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        detail: r.get(5)?,
                        client_ip: r.get(6)?,
                        request_id: r.get(7)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(Page::from_overfetch(rows, limit))
        })
        .await
    }
}
