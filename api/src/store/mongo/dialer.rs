//! [`DialerStore`] on MongoDB: dial lists keyed `campaign|phone`, counters kept with
//! `$inc`, and leases renewed with the server's `$currentDate` and judged expired by
//! the server's `$$NOW`. SecantusDB mis-evaluates `$$NOW` in date comparisons, so the
//! expiry compares `{$toLong: ...}` milliseconds, which both it and MongoDB evaluate
//! alike.

use std::collections::BTreeMap;

use super::{decode, encode, err, is_duplicate, without_id, MongoStore};
use crate::model::{AttemptTally, CallAttempt, DialEntry, EntryCounts, EntryState, Millis};
use crate::store::{DialerStore, StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;

const ENTRIES: &str = "dial_entries";
const COUNTERS: &str = "campaign_counters";
const LEASES: &str = "leases";
const ATTEMPTS: &str = "call_attempts";

fn entry_id(campaign_id: &str, phone: &str) -> String {
    format!("{campaign_id}|{phone}")
}

fn entry_doc(e: &DialEntry) -> StoreResult<Document> {
    let mut d = encode(e)?;
    d.insert("_id", entry_id(&e.campaign_id, &e.phone_e164));
    Ok(d)
}

fn entry_of(mut d: Document) -> StoreResult<DialEntry> {
    d.remove("_id");
    decode(d)
}

fn as_u64(b: Option<&Bson>) -> u64 {
    match b {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Double(n)) if *n >= 0.0 => n.round() as u64,
        _ => 0,
    }
}

fn as_i64(b: Option<&Bson>) -> Option<i64> {
    match b {
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Double(n)) => Some(n.round() as i64),
        _ => None,
    }
}

fn limit_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl DialerStore for MongoStore {
    async fn add_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<u64> {
        self.ready().await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let total = entries.len() as u64;
        let docs = entries
            .iter()
            .map(entry_doc)
            .collect::<StoreResult<Vec<_>>>()?;
        // Unordered: every new phone is written; those already listed fail alone.
        match self.coll(ENTRIES).insert_many(docs).ordered(false).await {
            Ok(_) => Ok(total),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(m)
                    if m.write_concern_error.is_none()
                        && m.write_errors
                            .as_ref()
                            .is_some_and(|w| w.iter().all(|x| x.code == 11000)) =>
                {
                    let dup = m.write_errors.as_ref().map_or(0, Vec::len) as u64;
                    Ok(total.saturating_sub(dup))
                }
                _ => Err(err(e)),
            },
        }
    }

    async fn due_dial_entries(
        &self,
        campaign_id: &str,
        now: Millis,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>> {
        self.ready().await?;
        let cursor = self
            .coll(ENTRIES)
            .find(
                doc! { "campaign_id": campaign_id, "state": "waiting", "next_at": { "$lt": due_bound(now) } },
            )
            .sort(doc! { "next_at": 1, "phone_e164": 1 })
            .limit(limit_of(limit))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(entry_of).collect()
    }

    async fn dial_entries_in(
        &self,
        campaign_id: &str,
        state: EntryState,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>> {
        self.ready().await?;
        let cursor = self
            .coll(ENTRIES)
            .find(doc! { "campaign_id": campaign_id, "state": state.as_str() })
            .sort(doc! { "updated_at": 1, "phone_e164": 1 })
            .limit(limit_of(limit))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(entry_of).collect()
    }

    async fn get_dial_entry(&self, campaign_id: &str, phone_e164: &str) -> StoreResult<DialEntry> {
        self.ready().await?;
        let found = self
            .coll(ENTRIES)
            .find_one(doc! { "_id": entry_id(campaign_id, phone_e164) })
            .await
            .map_err(err)?;
        entry_of(found.ok_or(StoreError::NotFound)?)
    }

    async fn put_dial_entry(&self, entry: DialEntry) -> StoreResult<()> {
        self.ready().await?;
        let d = entry_doc(&entry)?;
        self.coll(ENTRIES)
            .replace_one(
                doc! { "_id": entry_id(&entry.campaign_id, &entry.phone_e164) },
                d,
            )
            .upsert(true)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn put_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<()> {
        for e in entries {
            self.put_dial_entry(e).await?;
        }
        Ok(())
    }

    async fn count_waiting(
        &self,
        campaign_id: &str,
        due_before: Millis,
        limit: u64,
    ) -> StoreResult<u64> {
        self.ready().await?;
        self.coll(ENTRIES)
            .count_documents(
                doc! { "campaign_id": campaign_id, "state": "waiting", "next_at": { "$lt": due_bound(due_before) } },
            )
            .limit(limit)
            .await
            .map_err(err)
    }

    async fn dial_entry_counts(&self, campaign_id: &str) -> StoreResult<EntryCounts> {
        self.ready().await?;
        let cursor = self
            .coll(ENTRIES)
            .aggregate(vec![
                doc! { "$match": { "campaign_id": campaign_id } },
                doc! { "$group": { "_id": "$state", "n": { "$sum": 1 }, "next": { "$min": "$next_at" } } },
            ])
            .await
            .map_err(err)?;
        let groups: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let mut counts = EntryCounts::default();
        for g in groups {
            let n = as_u64(g.get("n"));
            match g.get_str("_id").unwrap_or_default() {
                "waiting" => {
                    counts.waiting = n;
                    counts.next_at = as_i64(g.get("next"));
                }
                "dialing" => counts.dialing = n,
                _ => counts.done += n,
            }
        }
        Ok(counts)
    }

    async fn bump_counters(
        &self,
        campaign_id: &str,
        counts: Vec<(String, i64)>,
    ) -> StoreResult<()> {
        self.ready().await?;
        if counts.is_empty() {
            return Ok(());
        }
        let mut inc = Document::new();
        for (name, n) in counts {
            // Field names come from the dialler's own reasons; dots would nest.
            inc.insert(format!("n.{}", name.replace(['.', '$'], "_")), n);
        }
        self.coll(COUNTERS)
            .update_one(doc! { "_id": campaign_id }, doc! { "$inc": inc })
            .upsert(true)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn campaign_counters(&self, campaign_id: &str) -> StoreResult<BTreeMap<String, i64>> {
        self.ready().await?;
        let found = self
            .coll(COUNTERS)
            .find_one(doc! { "_id": campaign_id })
            .await
            .map_err(err)?;
        let mut out = BTreeMap::new();
        if let Some(Ok(n)) = found.as_ref().map(|d| d.get_document("n")) {
            for (k, v) in n {
                if let Some(v) = as_i64(Some(v)) {
                    out.insert(k.clone(), v);
                }
            }
        }
        Ok(out)
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> StoreResult<bool> {
        self.ready().await?;
        let expired = doc! { "$expr": { "$lt": [
            { "$add": [{ "$toLong": "$renewed_at" }, "$ttl_ms"] },
            { "$toLong": "$$NOW" },
        ] } };
        let res = self
            .coll(LEASES)
            .update_one(
                doc! { "_id": name, "$or": [{ "holder": holder }, expired] },
                doc! { "$set": { "holder": holder, "ttl_ms": ttl_ms }, "$currentDate": { "renewed_at": true } },
            )
            .upsert(true)
            .await;
        match res {
            Ok(r) => Ok(r.matched_count == 1 || r.upserted_id.is_some()),
            // Held by someone else: the filter missed and the upsert hit the `_id`.
            Err(e) if is_duplicate(&e) => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        self.ready().await?;
        self.coll(LEASES)
            .delete_one(doc! { "_id": name, "holder": holder })
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn attempt_tally(&self, campaign_id: &str, since: Millis) -> StoreResult<AttemptTally> {
        self.ready().await?;
        let open = ["reserved", "dialed"];
        let cursor = self
            .coll(ATTEMPTS)
            .aggregate(vec![
                doc! { "$match": { "campaign_id": campaign_id, "$or": [
                    { "started_at": { "$gte": since } },
                    { "state": { "$in": open.to_vec() } },
                ] } },
                doc! { "$group": {
                    "_id": { "s": "$state", "d": "$disposition", "r": { "$gte": ["$started_at", since] } },
                    "n": { "$sum": 1 },
                } },
            ])
            .await
            .map_err(err)?;
        let groups: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let mut tally = AttemptTally::default();
        for g in groups {
            let n = as_u64(g.get("n"));
            let Ok(key) = g.get_document("_id") else {
                continue;
            };
            if open.contains(&key.get_str("s").unwrap_or_default()) {
                tally.open += n;
            }
            if key.get_bool("r").unwrap_or(false) {
                tally.started += n;
                if let Ok(d) = key.get_str("d") {
                    *tally.dispositions.entry(d.to_owned()).or_default() += n;
                }
            }
        }
        Ok(tally)
    }

    async fn campaign_attempts(
        &self,
        campaign_id: &str,
        newest_first: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<CallAttempt>> {
        self.ready().await?;
        let dir = if newest_first { -1 } else { 1 };
        let cursor = self
            .coll(ATTEMPTS)
            .find(doc! { "campaign_id": campaign_id })
            .sort(doc! { "started_at": dir, "_id": dir })
            .skip(offset)
            .limit(limit_of(limit))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(without_id).collect()
    }

    async fn latest_attempt_of_phone(&self, phone_e164: &str) -> StoreResult<Option<CallAttempt>> {
        self.ready().await?;
        self.coll(ATTEMPTS)
            .find_one(doc! { "phone_e164": phone_e164 })
            .sort(doc! { "started_at": -1, "_id": -1 })
            .await
            .map_err(err)?
            .map(without_id)
            .transpose()
    }
}

/// `next_at <= at` written as `next_at < at + 1` (times are whole milliseconds):
/// SecantusDB bounds `$lte` on a compound index key that is not the last one as if the
/// later keys had to be absent, and drops entries due exactly at `at`; `$lt` is bounded
/// correctly there and means the same on MongoDB.
fn due_bound(at: Millis) -> Millis {
    at.saturating_add(1)
}
