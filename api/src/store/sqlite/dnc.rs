//! [`DncStore`] on SQLite: the do-not-call list, and the `opt_out` flag of the
//! contact rows it covers.

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{opt_out_reason, prefix_end, DncEntry, DncSource, Page};
use crate::store::{DncStore, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

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
            {
                let mut revoke = tx
                    .prepare_cached(
                        "UPDATE consents SET revoked = 1, doc = json_set(doc, '$.revoked_at', ?2, '$.revoked_reason', ?3, '$.updated_at', ?2) WHERE phone_e164 = ?1 AND revoked = 0",
                    )
                    .map_err(err)?;
                for e in entries.iter().filter(|e| added.contains(&e.phone_e164)) {
                    revoke
                        .execute(params![e.phone_e164, e.added_at, opt_out_reason(e)])
                        .map_err(err)?;
                }
            }
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
