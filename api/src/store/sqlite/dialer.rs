//! [`DialerStore`] on SQLite: dial lists, counters and leases. One writer connection,
//! so each change is one transaction; lease expiry is read from SQLite's own clock.

use std::collections::BTreeMap;

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{AttemptTally, CallAttempt, DialEntry, EntryCounts, EntryState, Millis};
use crate::store::{DialerStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension};

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn int(n: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

#[async_trait]
impl DialerStore for SqliteStore {
    async fn add_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<u64> {
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            let mut added = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO dial_entries (campaign_id, phone_e164, state, next_at, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(err)?;
                for e in &entries {
                    added += insert
                        .execute(params![
                            e.campaign_id,
                            e.phone_e164,
                            e.state.as_str(),
                            e.next_at,
                            e.updated_at,
                            to_json(e)?
                        ])
                        .map_err(err)?;
                }
            }
            tx.commit().map_err(err)?;
            Ok(added as u64)
        })
        .await
    }

    async fn due_dial_entries(
        &self,
        campaign_id: &str,
        now: Millis,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>> {
        let args = vec![text(campaign_id), SqlValue::Integer(now), int(limit)];
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM dial_entries WHERE campaign_id = ?1 AND state = 'waiting' AND next_at <= ?2 ORDER BY next_at, phone_e164 LIMIT ?3",
                args,
            )
        })
        .await
    }

    async fn dial_entries_in(
        &self,
        campaign_id: &str,
        state: EntryState,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>> {
        let args = vec![text(campaign_id), text(state.as_str()), int(limit)];
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM dial_entries WHERE campaign_id = ?1 AND state = ?2 ORDER BY updated_at, phone_e164 LIMIT ?3",
                args,
            )
        })
        .await
    }

    async fn get_dial_entry(&self, campaign_id: &str, phone_e164: &str) -> StoreResult<DialEntry> {
        let (campaign_id, phone) = (campaign_id.to_owned(), phone_e164.to_owned());
        self.read(move |c| {
            let doc: Option<String> = c
                .query_row(
                    "SELECT doc FROM dial_entries WHERE campaign_id = ?1 AND phone_e164 = ?2",
                    [&campaign_id, &phone],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            from_json(&doc.ok_or(StoreError::NotFound)?)
        })
        .await
    }

    async fn put_dial_entry(&self, entry: DialEntry) -> StoreResult<()> {
        self.put_dial_entries(vec![entry]).await
    }

    async fn put_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            {
                let mut put = tx
                    .prepare_cached(
                        "INSERT INTO dial_entries (campaign_id, phone_e164, state, next_at, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (campaign_id, phone_e164) DO UPDATE SET state = excluded.state, next_at = excluded.next_at, updated_at = excluded.updated_at, doc = excluded.doc",
                    )
                    .map_err(err)?;
                for e in &entries {
                    put.execute(params![
                        e.campaign_id,
                        e.phone_e164,
                        e.state.as_str(),
                        e.next_at,
                        e.updated_at,
                        to_json(e)?
                    ])
                    .map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn count_waiting(
        &self,
        campaign_id: &str,
        due_before: Millis,
        limit: u64,
    ) -> StoreResult<u64> {
        let campaign_id = campaign_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM dial_entries WHERE campaign_id = ?1 AND state = 'waiting' AND next_at <= ?3 LIMIT ?2)",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![campaign_id, i64::try_from(limit).unwrap_or(i64::MAX), due_before],
                    |r| r.get::<_, i64>(0),
                )
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(err)
        })
        .await
    }

    async fn dial_entry_counts(&self, campaign_id: &str) -> StoreResult<EntryCounts> {
        let campaign_id = campaign_id.to_owned();
        self.read(move |c| {
            let mut counts = EntryCounts::default();
            let mut s = c
                .prepare_cached(
                    "SELECT state, COUNT(*), MIN(next_at) FROM dial_entries WHERE campaign_id = ?1 GROUP BY state",
                )
                .map_err(err)?;
            let rows = s
                .query_map([&campaign_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?))
                })
                .map_err(err)?;
            for row in rows {
                let (state, n, next) = row.map_err(err)?;
                let n = u64::try_from(n).unwrap_or(0);
                match state.as_str() {
                    "waiting" => {
                        counts.waiting = n;
                        counts.next_at = next;
                    }
                    "dialing" => counts.dialing = n,
                    _ => counts.done += n,
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn bump_counters(
        &self,
        campaign_id: &str,
        counts: Vec<(String, i64)>,
    ) -> StoreResult<()> {
        let campaign_id = campaign_id.to_owned();
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            for (name, n) in &counts {
                tx.execute(
                    "INSERT INTO campaign_counters (campaign_id, name, n) VALUES (?1, ?2, ?3)
                     ON CONFLICT (campaign_id, name) DO UPDATE SET n = n + excluded.n",
                    params![campaign_id, name, n],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn campaign_counters(&self, campaign_id: &str) -> StoreResult<BTreeMap<String, i64>> {
        let campaign_id = campaign_id.to_owned();
        self.read(move |c| {
            let mut s = c
                .prepare_cached("SELECT name, n FROM campaign_counters WHERE campaign_id = ?1")
                .map_err(err)?;
            let rows = s
                .query_map([&campaign_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?;
            rows.collect::<Result<BTreeMap<String, i64>, _>>()
                .map_err(err)
        })
        .await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            let n = c
                .execute(
                    &format!(
                        "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, {DB_NOW_MS} + ?3)
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE leases.holder = excluded.holder OR leases.expires_at < {DB_NOW_MS}"
                    ),
                    params![name, holder, ttl_ms],
                )
                .map_err(err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            c.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                [&name, &holder],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn attempt_tally(&self, campaign_id: &str, since: Millis) -> StoreResult<AttemptTally> {
        let campaign_id = campaign_id.to_owned();
        self.read(move |c| {
            let mut tally = AttemptTally::default();
            let mut s = c
                .prepare_cached(
                    "SELECT state, json_extract(doc, '$.disposition'), started_at >= ?2, COUNT(*) FROM call_attempts
                     WHERE campaign_id = ?1 AND (started_at >= ?2 OR state IN ('reserved', 'dialed'))
                     GROUP BY 1, 2, 3",
                )
                .map_err(err)?;
            let rows = s
                .query_map(params![campaign_id, since], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (state, disposition, recent, n) = row.map_err(err)?;
                let n = u64::try_from(n).unwrap_or(0);
                if matches!(state.as_str(), "reserved" | "dialed") {
                    tally.open += n;
                }
                if recent {
                    tally.started += n;
                    if let Some(d) = disposition {
                        *tally.dispositions.entry(d).or_default() += n;
                    }
                }
            }
            Ok(tally)
        })
        .await
    }

    async fn campaign_attempts(
        &self,
        campaign_id: &str,
        newest_first: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<CallAttempt>> {
        let args = vec![text(campaign_id), int(limit), int(offset)];
        let sql = if newest_first {
            "SELECT doc FROM call_attempts WHERE campaign_id = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        } else {
            "SELECT doc FROM call_attempts WHERE campaign_id = ?1 ORDER BY started_at, id LIMIT ?2 OFFSET ?3"
        };
        self.read(move |c| many(c, sql, args)).await
    }

    async fn latest_attempt_of_phone(&self, phone_e164: &str) -> StoreResult<Option<CallAttempt>> {
        let args = vec![text(phone_e164)];
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM call_attempts WHERE phone_e164 = ?1 ORDER BY started_at DESC, id DESC LIMIT 1",
                args,
            )
        })
        .await
        .map(|v: Vec<CallAttempt>| v.into_iter().next())
    }
}
