//! [`CallStore`] on SQLite: calls as JSON documents with the columns the queries and
//! unique keys need, and transcript turns.

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{now_millis, Call, CallQuery, CallStatus, Page, Turn};
use crate::store::{CallStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension};

fn call_columns(call: &Call) -> StoreResult<[SqlValue; 10]> {
    Ok([
        SqlValue::Text(call.id.to_string()),
        call.call_control_id
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text),
        call.idempotency_key
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text),
        SqlValue::Text(call.status.as_str().to_owned()),
        SqlValue::Text(call.phone.clone()),
        call.campaign_id
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text),
        call.customer_id
            .clone()
            .map_or(SqlValue::Null, |id| SqlValue::Text(id.into())),
        SqlValue::Integer(call.started_at),
        SqlValue::Integer(call.version),
        SqlValue::Text(to_json(call)?),
    ])
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn create_call(&self, call: Call) -> StoreResult<Call> {
        self.write(move |c| {
            let cols = call_columns(&call)?;
            c.prepare_cached(
                "INSERT INTO calls (id, call_control_id, idempotency_key, status, phone, campaign_id, customer_id, started_at, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut s| s.execute(params_from_iter(cols)))
            .map_err(err)?;
            Ok(call)
        })
        .await
    }

    async fn get_call(&self, id: &str) -> StoreResult<Call> {
        let id = id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM calls WHERE id = ?1", &id))
            .await
    }

    async fn find_call_by_control_id(&self, call_control_id: &str) -> StoreResult<Call> {
        let key = call_control_id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM calls WHERE call_control_id = ?1", &key))
            .await
    }

    async fn find_call_by_idempotency_key(&self, key: &str) -> StoreResult<Call> {
        let key = key.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM calls WHERE idempotency_key = ?1", &key))
            .await
    }

    async fn update_call(&self, call: Call) -> StoreResult<Call> {
        self.write(move |c| {
            let mut next = call;
            let expected = next.version;
            next.version += 1;
            next.updated_at = now_millis().max(next.updated_at);
            let cols = call_columns(&next)?;
            let n = c
                .prepare_cached(
                    "UPDATE calls SET call_control_id = ?2, idempotency_key = ?3, status = ?4, phone = ?5, campaign_id = ?6,
                     customer_id = ?7, started_at = ?8, version = ?9, doc = ?10 WHERE id = ?1 AND version = ?11",
                )
                .and_then(|mut s| s.execute(params_from_iter(cols.into_iter().chain([SqlValue::Integer(expected)]))))
                .map_err(err)?;
            versioned(c, "SELECT 1 FROM calls WHERE id = ?1", n, next)
        })
        .await
    }

    async fn append_turn(&self, call_id: &str, turn: Turn) -> StoreResult<i64> {
        let call_id = call_id.to_owned();
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            let exists = tx
                .query_row("SELECT 1 FROM calls WHERE id = ?1", [&call_id], |_| Ok(()))
                .optional()
                .map_err(err)?
                .is_some();
            if !exists {
                return Err(StoreError::NotFound);
            }
            let seq: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_id = ?1",
                    [&call_id],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let mut turn = turn;
            turn.seq = seq;
            tx.execute(
                "INSERT INTO call_turns (call_id, seq, doc) VALUES (?1, ?2, ?3)",
                params![call_id, seq, to_json(&turn)?],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(seq)
        })
        .await
    }

    async fn list_turns(&self, call_id: &str) -> StoreResult<Vec<Turn>> {
        let call_id = call_id.to_owned();
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM call_turns WHERE call_id = ?1 ORDER BY seq",
                vec![SqlValue::Text(call_id)],
            )
        })
        .await
    }

    async fn list_calls(&self, query: &CallQuery) -> StoreResult<Page<Call>> {
        let mut sql = String::from("SELECT doc FROM calls WHERE 1 = 1");
        let mut args = Vec::new();
        let mut eq = |col: &str, v: &Option<String>| {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                args.push(SqlValue::Text(v.clone()));
            }
        };
        eq("status", &query.status.map(|s| s.as_str().to_owned()));
        // The direction lives only in the document (no index: a filter beside others).
        eq(
            "json_extract(doc, '$.direction')",
            &query.direction.map(|d| d.as_str().to_owned()),
        );
        eq("phone", &query.phone);
        eq("campaign_id", &query.campaign_id);
        eq("customer_id", &query.customer_id.clone().map(String::from));
        // Only the reaper asks, with a status (indexed) beside it.
        eq("json_extract(doc, '$.owner.epoch')", &query.owner_epoch);
        if let Some(from) = query.from {
            sql.push_str(" AND started_at >= ?");
            args.push(SqlValue::Integer(from));
        }
        if let Some(to) = query.to {
            sql.push_str(" AND started_at < ?");
            args.push(SqlValue::Integer(to));
        }
        sql.push_str(" ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?");
        args.push(SqlValue::Integer(
            i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX),
        ));
        args.push(SqlValue::Integer(
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        ));
        let limit = query.limit;
        self.read(move |c| Ok(Page::from_overfetch(many(c, &sql, args)?, limit)))
            .await
    }

    async fn count_calls_in(&self, statuses: &[CallStatus]) -> StoreResult<u64> {
        if statuses.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) FROM calls WHERE status IN ({})",
            vec!["?"; statuses.len()].join(", ")
        );
        let args: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(params_from_iter(args.iter()), |r| r.get(0)))
                .map_err(err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}
