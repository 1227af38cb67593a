//! What several of the SQLite trait files share: JSON documents in rows, version
//! checks, and the contact rows' `opt_out` refresh.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::err;
use crate::model::{Call, Campaign};
use crate::store::{StoreError, StoreResult};

/// SQLite's clock in milliseconds since the epoch (leases and heartbeats are judged by
/// the database's clock, never by a node's).
pub(super) const DB_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

pub(super) fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Unavailable(format!("corrupt document: {e}")))
}

pub(super) fn one<T: DeserializeOwned>(conn: &Connection, sql: &str, key: &str) -> StoreResult<T> {
    let doc: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(err)?;
    from_json(&doc.ok_or(StoreError::NotFound)?)
}

pub(super) fn many<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    args: Vec<SqlValue>,
) -> StoreResult<Vec<T>> {
    let mut s = conn.prepare_cached(sql).map_err(err)?;
    let docs = s
        .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    docs.iter().map(|d| from_json(d)).collect()
}

/// The outcome of a version-checked update that changed `n` rows: the new value, or
/// why not (the row is gone, or another writer got there first).
pub(super) fn versioned<T: HasId>(
    c: &Connection,
    exists_sql: &str,
    n: usize,
    next: T,
) -> StoreResult<T> {
    if n == 1 {
        return Ok(next);
    }
    let exists = c
        .prepare_cached(exists_sql)
        .and_then(|mut s| s.exists([next.id()]))
        .map_err(err)?;
    Err(crate::store::version_refused(exists))
}

pub(super) trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Call {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for Campaign {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Recomputes the `opt_out` flag of every contact row that has one of `phones`.
pub(super) fn refresh_opt_out(tx: &Transaction<'_>, phones: &[String]) -> StoreResult<()> {
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
