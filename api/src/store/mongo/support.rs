//! What several of the MongoDB trait files share: collection names, id stripping,
//! retry backoff, versioned replace and sequence numbers.

use std::time::Duration;

use mongodb::bson::{doc, Document};
use serde::de::DeserializeOwned;

use super::{decode, err, err_on, MongoStore};
use crate::store::StoreResult;

pub(super) const SEQUENCE_ATTEMPTS: u32 = 50;

pub(super) fn strip_id<T: DeserializeOwned>(mut d: Document) -> StoreResult<T> {
    d.remove("_id");
    d.remove("call_id");
    decode(d)
}

pub(super) async fn backoff(attempt: u32) {
    let cap = 2u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % cap + 1)).await;
}

impl MongoStore {
    /// Which of `phones` are on the do-not-call list, read inside `session`.
    pub(super) async fn dnc_phones_in<S: AsRef<str>>(
        &self,
        session: &mut mongodb::ClientSession,
        phones: &[S],
    ) -> Result<Vec<String>, mongodb::error::Error> {
        if phones.is_empty() {
            return Ok(Vec::new());
        }
        let phones: Vec<&str> = phones.iter().map(AsRef::as_ref).collect();
        let mut cursor = self
            .coll(DNC)
            .find(doc! { "phone_e164": { "$in": &phones } })
            .projection(doc! { "phone_e164": 1 })
            .session(&mut *session)
            .await?;
        let mut out = Vec::new();
        while let Some(d) = cursor.next(&mut *session).await.transpose()? {
            if let Ok(p) = d.get_str("phone_e164") {
                out.push(p.to_owned());
            }
        }
        Ok(out)
    }

    /// Replaces `_id: id` if its version is `expected`, else tells why not.
    pub(super) async fn replace_versioned(
        &self,
        coll: &str,
        id: &str,
        expected: i64,
        doc: Document,
    ) -> StoreResult<()> {
        let res = self
            .coll(coll)
            .replace_one(doc! { "_id": id, "version": expected }, doc)
            .await
            .map_err(err_on("call_control_id"))?;
        if res.matched_count == 1 {
            return Ok(());
        }
        let exists = self
            .coll(coll)
            .find_one(doc! { "_id": id })
            .await
            .map_err(err)?
            .is_some();
        Err(crate::store::version_refused(exists))
    }

    /// The next number of a sequence: 1 + the highest `field` among `filter`'s documents.
    pub(super) async fn next_number(
        &self,
        coll: &str,
        filter: Document,
        field: &str,
    ) -> StoreResult<i64> {
        let last = self
            .coll(coll)
            .find_one(filter)
            .sort(doc! { field: -1 })
            .await
            .map_err(err)?;
        Ok(last.and_then(|d| d.get_i64(field).ok()).unwrap_or(0) + 1)
    }
}

pub(super) const DNC: &str = "dnc";
pub(super) const CONSENTS: &str = "consents";
pub(super) const NODES: &str = "nodes";
pub(super) const RECORDING_PARTS: &str = "recording_parts";
pub(super) const WEBHOOK_EVENTS: &str = "webhook_events";
pub(super) const CONTACTS: &str = "prospect_contacts";

pub(super) fn strip_doc_id(mut d: Document) -> Document {
    d.remove("_id");
    d
}

/// `{$gte: from, $lt: to}` for the bounds given (none: no condition).
pub(super) fn millis_range(from: Option<i64>, to: Option<i64>) -> Option<Document> {
    let mut range = Document::new();
    if let Some(from) = from {
        range.insert("$gte", from);
    }
    if let Some(to) = to {
        range.insert("$lt", to);
    }
    (!range.is_empty()).then_some(range)
}

/// A page read with one document more than `limit` (which says whether another page
/// follows), each decoded after its `_id` is dropped.
pub(super) async fn page_of<T: DeserializeOwned>(
    cursor: mongodb::Cursor<Document>,
    limit: u64,
) -> StoreResult<crate::model::Page<T>> {
    use futures_util::TryStreamExt;
    let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
    let items = docs
        .into_iter()
        .map(strip_doc_id)
        .map(decode)
        .collect::<StoreResult<Vec<T>>>()?;
    Ok(crate::model::Page::from_overfetch(items, limit))
}
