//! [`RecordingStore`] on SQLite: one row per part, keyed by call and data offset.

use super::{err, SqliteStore};
use crate::model::{now_millis, Millis, RecordingPart};
use crate::store::{RecordingStore, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

fn offset(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl RecordingStore for SqliteStore {
    async fn put_recording_part(&self, part: RecordingPart) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO recording_parts (call_id, offset, data, stored_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (call_id, offset) DO NOTHING",
                params![part.call_id, offset(part.offset), part.data, now_millis()],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn recording_parts(
        &self,
        call_id: &str,
        from: u64,
        limit: usize,
    ) -> StoreResult<Vec<RecordingPart>> {
        let call_id = call_id.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT offset, data FROM recording_parts
                     WHERE call_id = ?1 AND offset >= ?2 ORDER BY offset LIMIT ?3",
                )
                .map_err(err)?;
            let rows = s
                .query_map(params![call_id, offset(from), limit], |r| {
                    Ok(RecordingPart {
                        call_id: call_id.clone(),
                        offset: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        data: r.get(1)?,
                    })
                })
                .map_err(err)?;
            rows.map(|r| r.map_err(err)).collect()
        })
        .await
    }

    async fn recording_stored_end(&self, call_id: &str) -> StoreResult<Option<u64>> {
        let call_id = call_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT offset + length(data) FROM recording_parts
                 WHERE call_id = ?1 ORDER BY offset DESC LIMIT 1",
                params![call_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|end| Some(u64::try_from(end).unwrap_or(0)))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(err(e)),
            })
        })
        .await
    }

    async fn delete_recording_parts_before(&self, cutoff: Millis) -> StoreResult<u64> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM recording_parts WHERE stored_at < ?1",
                    params![cutoff],
                )
                .map_err(err)?;
            Ok(n as u64)
        })
        .await
    }
}
