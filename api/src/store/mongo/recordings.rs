//! [`RecordingStore`] on MongoDB: one document per part (`call_id`, `offset`, `data`
//! as BSON binary), unique on (call, offset). A part is at most a few hundred KiB, far
//! under MongoDB's 16 MiB document limit.

use super::support::RECORDING_PARTS;
use super::{err, MongoStore};
use crate::model::{now_millis, Millis, RecordingPart};
use crate::store::{RecordingStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};

fn offset(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn part_of(call_id: &str, d: &Document) -> Option<RecordingPart> {
    let offset = u64::try_from(d.get_i64("offset").ok()?).ok()?;
    let data = match d.get("data")? {
        Bson::Binary(b) => b.bytes.clone(),
        _ => return None,
    };
    Some(RecordingPart {
        call_id: call_id.to_owned(),
        offset,
        data,
    })
}

#[async_trait]
impl RecordingStore for MongoStore {
    async fn put_recording_part(&self, part: RecordingPart) -> StoreResult<()> {
        self.ready().await?;
        let res = self
            .coll(RECORDING_PARTS)
            .insert_one(doc! {
                "call_id": &part.call_id,
                "offset": offset(part.offset),
                "data": Binary { subtype: BinarySubtype::Generic, bytes: part.data },
                "stored_at": now_millis(),
            })
            .await;
        match res {
            Ok(_) => Ok(()),
            // The same part again (a retried write): already there.
            Err(e) if super::is_duplicate(&e) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn recording_parts(
        &self,
        call_id: &str,
        from: u64,
        limit: usize,
    ) -> StoreResult<Vec<RecordingPart>> {
        self.ready().await?;
        let docs: Vec<Document> = self
            .coll(RECORDING_PARTS)
            .find(doc! { "call_id": call_id, "offset": { "$gte": offset(from) } })
            .sort(doc! { "offset": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(err)?
            .try_collect()
            .await
            .map_err(err)?;
        Ok(docs.iter().filter_map(|d| part_of(call_id, d)).collect())
    }

    async fn recording_stored_end(&self, call_id: &str) -> StoreResult<Option<u64>> {
        self.ready().await?;
        let last = self
            .coll(RECORDING_PARTS)
            .find_one(doc! { "call_id": call_id })
            .sort(doc! { "offset": -1 })
            .await
            .map_err(err)?;
        Ok(last.and_then(|d| part_of(call_id, &d)).map(|p| p.end()))
    }

    async fn delete_recording_parts_before(&self, cutoff: Millis) -> StoreResult<u64> {
        self.ready().await?;
        let res = self
            .coll(RECORDING_PARTS)
            .delete_many(doc! { "stored_at": { "$lt": cutoff } })
            .await
            .map_err(err)?;
        Ok(res.deleted_count)
    }
}
