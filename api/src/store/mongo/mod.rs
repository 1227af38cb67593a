//! The production store: MongoDB through the official driver.
//!
//! Collections are named as the Node backend named them (`customer_records`, `dnc`,
//! `prospect_field_defs`, ...) plus `prospect_contacts`, the derived list rows. Indexes
//! are created idempotently at connect. Writes that touch several documents (a
//! customer and its contact rows, a DNC change and the rows' `opt_out` flags) run in a
//! transaction, retried on transient errors, so a crash between them cannot leave a
//! wrong answer. Transactions need a replica set (a one-node set is enough).

mod access;
mod agents;
mod audit;
mod calls;
mod campaigns;
mod consents;
mod customers;
mod dialer;
mod dnc;
mod field_defs;
mod nodes;
mod recordings;
mod support;
mod users;
mod webhook_events;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::error::{
    ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{redact_uri, Store, StoreError, StoreResult};

const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const TRANSACTION_ATTEMPTS: u32 = 25;

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// Set once the indexes exist; no operation runs before (unique keys guard dedup).
    indexed: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

impl MongoStore {
    /// Connects (database from the URI, else `agent5`) and ensures the indexes.
    pub async fn connect(uri: &str) -> StoreResult<Self> {
        Self::connect_database(uri, None).await
    }

    /// Like [`Self::connect`] with an explicit database name (tests use one each).
    pub async fn connect_database(uri: &str, database: Option<&str>) -> StoreResult<Self> {
        let store = Self::lazy(uri, database).await?;
        store.ready().await?;
        Ok(store)
    }

    /// A client that has not talked to the server yet: the appliance starts even when
    /// MongoDB is down, and the first operation (or `/readyz`) creates the indexes.
    pub async fn lazy(uri: &str, database: Option<&str>) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Invalid(format!("MONGO_URI {}: {e}", redact_uri(uri))))?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.app_name.get_or_insert_with(|| "agent5".to_owned());
        let db_name = database
            .map(str::to_owned)
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| "agent5".to_owned());
        let client = Client::with_options(options).map_err(err)?;
        Ok(Self {
            db: client.database(&db_name),
            client,
            indexed: std::sync::Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    pub(crate) async fn one<T: serde::de::DeserializeOwned>(
        &self,
        coll: &str,
        filter: Document,
    ) -> StoreResult<T> {
        let found = self.coll(coll).find_one(filter).await.map_err(err)?;
        without_id(found.ok_or(StoreError::NotFound)?)
    }

    pub(crate) async fn all<T: serde::de::DeserializeOwned>(
        &self,
        coll: &str,
        filter: Document,
        sort: Document,
    ) -> StoreResult<Vec<T>> {
        self.all_as(coll, filter, sort, without_id).await
    }

    /// Every document of `coll` matching `filter`, in `sort` order, turned into a value
    /// by `decode` (`without_id` when `_id` is the value's `id`).
    pub(crate) async fn all_as<T>(
        &self,
        coll: &str,
        filter: Document,
        sort: Document,
        decode: fn(Document) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let cursor = self.coll(coll).find(filter).sort(sort).await.map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(decode).collect()
    }

    /// Replaces the document `_id: id`; `NotFound` if absent, `Conflict { unique }` on a
    /// duplicate of the collection's unique key.
    pub(crate) async fn replace_by_id(
        &self,
        coll: &str,
        id: &str,
        doc: Document,
        unique: &str,
    ) -> StoreResult<()> {
        let res = self
            .coll(coll)
            .replace_one(doc! { "_id": id }, doc)
            .await
            .map_err(err_on(unique))?;
        if res.matched_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes the document `_id: id`; `NotFound` if absent.
    pub(crate) async fn delete_by_id(&self, coll: &str, id: &str) -> StoreResult<()> {
        let res = self
            .coll(coll)
            .delete_one(doc! { "_id": id })
            .await
            .map_err(err)?;
        if res.deleted_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Ensures the indexes once; until that succeeded every operation is `Unavailable`
    /// (after at most the server-selection timeout).
    pub(crate) async fn ready(&self) -> StoreResult<()> {
        self.indexed
            .get_or_try_init(|| self.ensure_indexes())
            .await
            .map(|_| ())
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    async fn ensure_indexes(&self) -> StoreResult<()> {
        for (coll, models) in index_specs() {
            self.coll(coll).create_indexes(models).await.map_err(err)?;
        }
        for (coll, name) in RETIRED_INDEXES {
            match self.coll(coll).drop_index(*name).await {
                Ok(()) => tracing::info!(collection = coll, index = name, "retired index dropped"),
                // IndexNotFound (27) and NamespaceNotFound (26): nothing to drop.
                Err(e) if matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == 27 || c.code == 26) =>
                    {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    /// Runs `f` in a transaction, retrying the whole transaction on transient errors
    /// and on duplicate-key races (two writers inserting the same new key).
    async fn transaction<T, F>(&self, mut f: F) -> StoreResult<T>
    where
        F: for<'s> FnMut(
            &'s Self,
            &'s mut mongodb::ClientSession,
        )
            -> futures_util::future::BoxFuture<'s, Result<T, mongodb::error::Error>>,
    {
        let mut last = None;
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let mut session = self.client.start_session().await.map_err(err)?;
            session.start_transaction().await.map_err(err)?;
            match f(self, &mut session).await {
                Ok(value) => loop {
                    match session.commit_transaction().await {
                        Ok(()) => return Ok(value),
                        Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                        Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                            last = Some(e);
                            break;
                        }
                        Err(e) => return Err(err(e)),
                    }
                },
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    if !is_retryable(&e) {
                        return Err(err(e));
                    }
                    last = Some(e);
                }
            }
            // Jittered exponential backoff, so contending writers fall out of lockstep.
            let cap = 2u64 << attempt.min(7);
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % cap + 1)).await;
        }
        Err(last.map_or_else(
            || StoreError::Unavailable("transaction retries exhausted".into()),
            err,
        ))
    }
}

/// Races another writer can cause: the whole transaction is worth running again.
fn is_retryable(e: &mongodb::error::Error) -> bool {
    e.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || is_duplicate(e)
        || matches!(e.get_custom::<StoreError>(), Some(StoreError::Conflict { field }) if field == "version")
}

/// Every collection's indexes (a table: one entry per collection).
#[allow(clippy::too_many_lines)]
fn index_specs() -> Vec<(&'static str, Vec<IndexModel>)> {
    let unique = |keys: Document| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).build())
            .build()
    };
    let plain = |keys: Document| IndexModel::builder().keys(keys).build();
    // Unique where present: calls without a carrier id or idempotency key omit the field.
    let unique_sparse = |keys: Document| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).sparse(true).build())
            .build()
    };
    vec![
        (
            "customer_records",
            vec![
                unique(doc! { "upsert_key": 1 }),
                plain(doc! { "invoice.phone": 1 }),
                plain(doc! { "invoice.mobile": 1 }),
                plain(doc! { "delivery_addresses.phone": 1 }),
                plain(doc! { "tags": 1 }),
                plain(doc! { "archived": 1, "updated_at": 1 }),
            ],
        ),
        (
            "prospect_contacts",
            vec![
                unique(doc! { "customer_id": 1, "kind": 1, "code": 1 }),
                plain(
                    doc! { "kind": 1, "archived": 1, "updated_at": -1, "customer_id": 1, "code": 1 },
                ),
                plain(doc! { "kind": 1, "archived": 1, "language": 1, "updated_at": -1 }),
                plain(doc! { "kind": 1, "archived": 1, "name": 1, "customer_id": 1, "code": 1 }),
                plain(doc! { "kind": 1, "archived": 1, "company": 1, "customer_id": 1, "code": 1 }),
                plain(doc! { "phone": 1 }),
                plain(doc! { "mobile": 1 }),
                plain(doc! { "tags": 1 }),
                plain(doc! { "kind": 1, "email_lc": 1 }),
            ],
        ),
        ("dnc", vec![unique(doc! { "phone_e164": 1 })]),
        ("prospect_field_defs", vec![unique(doc! { "key": 1 })]),
        (
            "webhook_events",
            vec![
                unique(doc! { "event_id": 1 }),
                plain(doc! { "processed": 1, "received_at": 1 }),
            ],
        ),
        (
            "audit_log",
            vec![
                plain(doc! { "at": -1 }),
                plain(doc! { "actor": 1, "at": -1 }),
                plain(doc! { "actor_id": 1, "at": -1 }),
                plain(doc! { "action": 1, "at": -1 }),
            ],
        ),
        ("agent_profiles", vec![unique(doc! { "name": 1 })]),
        ("users", vec![unique(doc! { "email_lc": 1 })]),
        (
            "sessions",
            vec![
                plain(doc! { "user_id": 1 }),
                plain(doc! { "last_seen_at": 1 }),
                plain(doc! { "created_at": 1 }),
            ],
        ),
        (
            "api_tokens",
            vec![
                unique(doc! { "digest": 1 }),
                plain(doc! { "user_id": 1, "created_at": -1 }),
            ],
        ),
        (
            "calls",
            vec![
                unique_sparse(doc! { "call_control_id": 1 }),
                unique_sparse(doc! { "idempotency_key": 1 }),
                plain(doc! { "started_at": -1, "_id": -1 }),
                plain(doc! { "status": 1, "started_at": -1 }),
                plain(doc! { "phone": 1, "started_at": -1 }),
                plain(doc! { "campaign_id": 1, "started_at": -1 }),
                plain(doc! { "customer_id": 1, "started_at": -1 }),
            ],
        ),
        ("call_turns", vec![unique(doc! { "call_id": 1, "seq": 1 })]),
        (
            support::RECORDING_PARTS,
            vec![
                unique(doc! { "call_id": 1, "offset": 1 }),
                plain(doc! { "stored_at": 1 }),
            ],
        ),
        (
            "campaigns",
            vec![unique(doc! { "name": 1 }), plain(doc! { "created_at": -1 })],
        ),
        (
            "call_attempts",
            vec![
                unique(doc! { "campaign_id": 1, "phone_e164": 1, "attempt_no": 1 }),
                plain(doc! { "state": 1, "started_at": 1 }),
                plain(doc! { "campaign_id": 1, "started_at": 1 }),
                plain(doc! { "phone_e164": 1, "started_at": -1 }),
            ],
        ),
        (
            "dial_entries",
            vec![
                // The due query's whole order (next time, then phone): no in-memory
                // sort of the entries that share a next time.
                plain(doc! { "campaign_id": 1, "state": 1, "next_at": 1, "phone_e164": 1 }),
                plain(doc! { "campaign_id": 1, "state": 1, "updated_at": 1 }),
            ],
        ),
    ]
}

/// Indexes an earlier version created that a later one replaced, dropped at start-up.
const RETIRED_INDEXES: &[(&str, &str)] = &[("dial_entries", "campaign_id_1_state_1_next_at_1")];

pub(crate) fn is_duplicate(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| w.code == 11000)),
        _ => false,
    }
}

/// Maps driver errors to the store's kinds (duplicates are mapped by the caller,
/// which knows the field).
pub(crate) fn err(e: mongodb::error::Error) -> StoreError {
    if let Some(store) = e.get_custom::<StoreError>() {
        return store.clone();
    }
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { message, .. } => StoreError::Invalid(message.clone()),
        ErrorKind::BsonSerialization(s) => StoreError::Invalid(s.to_string()),
        _ if is_duplicate(&e) => StoreError::Conflict {
            field: "unknown".into(),
        },
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// Maps a duplicate-key error to a conflict on `field`.
pub(crate) fn err_on(field: &str) -> impl Fn(mongodb::error::Error) -> StoreError + '_ {
    move |e| {
        if is_duplicate(&e) {
            StoreError::Conflict {
                field: field.to_owned(),
            }
        } else {
            err(e)
        }
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(doc: Document) -> StoreResult<T> {
    mongodb::bson::from_document(doc)
        .map_err(|e| StoreError::Unavailable(format!("corrupt document: {e}")))
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> StoreResult<Document> {
    mongodb::bson::to_document(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A document whose `_id` is the value's `id` field.
pub(crate) fn with_id<T: serde::Serialize>(value: &T, id: &str) -> StoreResult<Document> {
    let mut d = encode(value)?;
    d.remove("id");
    d.insert("_id", id);
    Ok(d)
}

/// The value back from a document written by [`with_id`].
pub(crate) fn without_id<T: serde::de::DeserializeOwned>(mut d: Document) -> StoreResult<T> {
    let id = d
        .remove("_id")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    d.insert("id", id);
    decode(d)
}

/// A regular expression that matches `text` literally.
pub(crate) fn literal_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~/ ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(err)
    }

    fn backend(&self) -> &'static str {
        "mongo"
    }
}

/// Ids are stored as the plain strings they are.
macro_rules! id_as_bson {
    ($t:ty) => {
        impl From<$t> for mongodb::bson::Bson {
            fn from(id: $t) -> Self {
                Self::String(id.into())
            }
        }
    };
}
id_as_bson!(crate::model::CallId);
id_as_bson!(crate::model::CustomerId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_escaping_is_literal() {
        assert_eq!(literal_regex("a.b*(c)"), "a\\.b\\*\\(c\\)");
        assert_eq!(literal_regex("+32 475"), "\\+32\\ 475");
    }
}
