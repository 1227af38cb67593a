//! Customers and the prospect list on MongoDB.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

use super::{decode, encode, err, literal_regex, with_id, without_id, MongoStore};

use crate::model::{
    now_millis, upsert_key, AttachError, AttachPlan, Attached, ContactRow, Customer, NewCustomer,
    NewDelivery, Page, Parent, ParentKey, ProspectQuery, Scope, Upserted,
};
use crate::store::{CustomerStore, StoreError, StoreResult};

const CUSTOMERS: &str = "customer_records";
const CONTACTS: &str = "prospect_contacts";

fn to_doc(c: &Customer) -> StoreResult<Document> {
    let key = upsert_key(&c.invoice).ok_or_else(|| {
        StoreError::Invalid("a customer needs an invoice phone, mobile, or name and email".into())
    })?;
    let mut d = with_id(c, &c.id)?;
    d.insert("upsert_key", key);
    Ok(d)
}

fn from_doc(mut d: Document) -> StoreResult<Customer> {
    d.remove("upsert_key");
    without_id(d)
}

fn row_doc(r: &ContactRow) -> StoreResult<Document> {
    let mut d = encode(r)?;
    d.insert("search", r.search_text());
    // The deliveries-only upload finds parents by email, case-insensitively.
    d.insert("email_lc", r.email.trim().to_lowercase());
    Ok(d)
}

type MResult<T> = Result<T, mongodb::error::Error>;

/// Writes a customer and rebuilds its contact rows (with DNC flags) in `session`.
/// `expected_version`: replace only if the stored version matches; `None` inserts.
async fn write_customer(
    store: &MongoStore,
    session: &mut ClientSession,
    c: &Customer,
    expected_version: Option<i64>,
) -> MResult<bool> {
    let doc = to_doc(c).map_err(invalid)?;
    let customers = store.coll(CUSTOMERS);
    match expected_version {
        None => {
            customers.insert_one(doc).session(&mut *session).await?;
        }
        Some(v) => {
            let res = customers
                .replace_one(doc! { "_id": &c.id, "version": v }, doc)
                .session(&mut *session)
                .await?;
            if res.matched_count == 0 {
                return Ok(false);
            }
            store
                .coll(CONTACTS)
                .delete_many(doc! { "customer_id": &c.id })
                .session(&mut *session)
                .await?;
        }
    }
    let phones = c.phones();
    let opted = store.dnc_phones_in(session, &phones).await?;
    let rows = c
        .contact_rows(&|p| opted.iter().any(|o| o == p))
        .iter()
        .map(row_doc)
        .collect::<StoreResult<Vec<_>>>()
        .map_err(invalid)?;
    store
        .coll(CONTACTS)
        .insert_many(rows)
        .session(&mut *session)
        .await?;
    Ok(true)
}

fn invalid(e: StoreError) -> mongodb::error::Error {
    mongodb::error::Error::custom(e)
}

async fn find_customer(
    store: &MongoStore,
    session: Option<&mut ClientSession>,
    filter: Document,
) -> MResult<Option<Customer>> {
    let found = match session {
        Some(s) => store.coll(CUSTOMERS).find_one(filter).session(s).await?,
        None => store.coll(CUSTOMERS).find_one(filter).await?,
    };
    found.map(from_doc).transpose().map_err(invalid)
}

/// The customers one parent key finds.
async fn parent_ids(
    store: &MongoStore,
    session: &mut ClientSession,
    key: &ParentKey,
) -> MResult<Vec<String>> {
    let filter = match key {
        ParentKey::Phone(p) => {
            doc! { "kind": "invoice", "$or": [ { "phone": p }, { "mobile": p } ] }
        }
        ParentKey::Email(e) => doc! { "kind": "invoice", "email_lc": e },
    };
    let mut cursor = store
        .coll(CONTACTS)
        .find(filter)
        .projection(doc! { "customer_id": 1 })
        .session(&mut *session)
        .await?;
    let mut ids = Vec::new();
    while let Some(d) = cursor.next(&mut *session).await.transpose()? {
        if let Ok(id) = d.get_str("customer_id") {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

async fn attach_batch(
    store: &MongoStore,
    session: &mut ClientSession,
    batch: Vec<NewDelivery>,
    dry_run: bool,
) -> MResult<Vec<Result<Attached, AttachError>>> {
    let mut plan = AttachPlan::new(now_millis(), batch.len());
    for item in batch {
        let mut parent: Parent = None;
        for key in &item.parent {
            parent = key.pick(parent_ids(store, session, key).await?);
            if parent.is_some() {
                break;
            }
        }
        if let Some(id) = plan.to_load(&parent) {
            let c = find_customer(store, Some(&mut *session), doc! { "_id": id })
                .await?
                .ok_or_else(|| {
                    invalid(StoreError::Conflict {
                        field: "version".into(),
                    })
                })?;
            let version = c.version;
            plan.load(c, version);
        }
        plan.attach(parent, item.delivery);
    }
    let (outcomes, changed) = plan.finish();
    if !dry_run {
        for (c, version) in changed {
            if !write_customer(store, session, &c, Some(version)).await? {
                return Err(invalid(StoreError::Conflict {
                    field: "version".into(),
                }));
            }
        }
    }
    Ok(outcomes)
}

fn list_filter(q: &ProspectQuery) -> Document {
    let mut f = Document::new();
    match q.scope {
        Scope::Invoice => f.insert("kind", "invoice"),
        Scope::Delivery => f.insert("kind", "delivery"),
        Scope::Both => f.insert("kind", doc! { "$in": ["invoice", "delivery"] }),
    };
    if !q.show_archived {
        f.insert("archived", false);
    }
    if let Some(l) = &q.language {
        f.insert("language", l.clone());
    }
    if let Some(c) = q.language_confirmed {
        f.insert("language_confirmed", c);
    }
    if let Some(o) = q.opt_out {
        f.insert("opt_out", o);
    }
    if !q.tags.is_empty() {
        f.insert("tags", doc! { "$all": q.tags.clone() });
    }
    let mut alts: Vec<Bson> = Vec::new();
    if let Some(t) = q
        .text
        .as_deref()
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty())
    {
        alts.push(Bson::Document(
            doc! { "search": { "$regex": literal_regex(&t) } },
        ));
    }
    if !q.phones.is_empty() {
        alts.push(Bson::Document(
            doc! { "phone": { "$in": q.phones.clone() } },
        ));
        alts.push(Bson::Document(
            doc! { "mobile": { "$in": q.phones.clone() } },
        ));
    }
    if !alts.is_empty() {
        f.insert("$or", alts);
    }
    f
}

#[async_trait]
impl CustomerStore for MongoStore {
    async fn upsert_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<Vec<Upserted>> {
        self.ready().await?;
        for (i, item) in batch.iter().enumerate() {
            if item.upsert_key().is_none() {
                return Err(StoreError::Invalid(format!(
                    "item {i}: no invoice phone, mobile, or name and email"
                )));
            }
        }
        self.transaction(|store, session| {
            let batch = batch.clone();
            Box::pin(async move {
                let now = now_millis();
                let mut out = Vec::with_capacity(batch.len());
                for new in batch {
                    let key = new.upsert_key().unwrap_or_default();
                    match find_customer(store, Some(&mut *session), doc! { "upsert_key": &key })
                        .await?
                    {
                        Some(mut c) => {
                            let version = c.version;
                            let changed = c.merge(new, now);
                            if changed {
                                c.version += 1;
                                if !write_customer(store, session, &c, Some(version)).await? {
                                    return Err(mongodb::error::Error::custom(
                                        StoreError::Conflict {
                                            field: "version".into(),
                                        },
                                    ));
                                }
                            }
                            out.push(Upserted {
                                id: c.id,
                                created: false,
                                changed,
                            });
                        }
                        None => {
                            let c = Customer::create(new, now);
                            write_customer(store, session, &c, None).await?;
                            out.push(Upserted {
                                id: c.id,
                                created: true,
                                changed: true,
                            });
                        }
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn get_customer(&self, id: &str) -> StoreResult<Customer> {
        self.ready().await?;
        find_customer(self, None, doc! { "_id": id })
            .await
            .map_err(err)?
            .ok_or(StoreError::NotFound)
    }

    async fn replace_customer(&self, customer: Customer) -> StoreResult<Customer> {
        self.ready().await?;
        let current = self.get_customer(&customer.id).await?;
        if current.version != customer.version {
            return Err(StoreError::Conflict {
                field: "version".into(),
            });
        }
        // A key taken by another customer is a conflict, not a race worth retrying.
        let key = upsert_key(&customer.invoice).ok_or_else(|| {
            StoreError::Invalid(
                "a customer needs an invoice phone, mobile, or name and email".into(),
            )
        })?;
        let taken = self
            .coll(CUSTOMERS)
            .find_one(doc! { "upsert_key": &key, "_id": { "$ne": &customer.id } })
            .await
            .map_err(err)?;
        if taken.is_some() {
            return Err(StoreError::Conflict {
                field: "upsert_key".into(),
            });
        }
        let mut next = customer;
        next.created_at = current.created_at;
        next.updated_at = now_millis().max(current.updated_at);
        next.version += 1;
        let expected = current.version;
        let written = next.clone();
        let ok = self
            .transaction(move |store, session| {
                let c = written.clone();
                Box::pin(async move { write_customer(store, session, &c, Some(expected)).await })
            })
            .await?;
        if ok {
            Ok(next)
        } else {
            Err(StoreError::Conflict {
                field: "version".into(),
            })
        }
    }

    async fn set_archived(&self, id: &str, archived: bool) -> StoreResult<Customer> {
        self.ready().await?;
        let mut c = self.get_customer(id).await?;
        if c.archived == archived {
            return Ok(c);
        }
        c.archived = archived;
        self.replace_customer(c).await
    }

    async fn list_prospects(&self, query: &ProspectQuery) -> StoreResult<Page<ContactRow>> {
        self.ready().await?;
        let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let cursor = self
            .coll(CONTACTS)
            .find(list_filter(query))
            .sort(match query.sort.by() {
                None => doc! { "updated_at": -1, "customer_id": 1, "code": 1 },
                Some((field, up)) => {
                    doc! { field: if up { 1 } else { -1 }, "customer_id": 1, "code": 1 }
                }
            })
            .skip(query.offset)
            .limit(limit)
            .projection(doc! { "_id": 0, "search": 0, "email_lc": 0 })
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        let items = docs
            .into_iter()
            .map(decode)
            .collect::<StoreResult<Vec<ContactRow>>>()?;
        Ok(Page::from_overfetch(items, query.limit))
    }

    async fn attach_deliveries(
        &self,
        batch: Vec<NewDelivery>,
        dry_run: bool,
    ) -> StoreResult<Vec<Result<Attached, AttachError>>> {
        self.ready().await?;
        self.transaction(|store, session| {
            let batch = batch.clone();
            Box::pin(async move { attach_batch(store, session, batch, dry_run).await })
        })
        .await
    }

    async fn list_customers(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Customer>> {
        self.ready().await?;
        // MongoDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = match after {
            Some(a) => doc! { "_id": { "$gt": a } },
            None => doc! {},
        };
        let cursor = self
            .coll(CUSTOMERS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(from_doc).collect()
    }

    async fn delivery_codes(&self) -> StoreResult<Vec<String>> {
        self.ready().await?;
        let values = self
            .coll(CONTACTS)
            .distinct("code", doc! { "kind": "delivery" })
            .await
            .map_err(err)?;
        let mut codes: Vec<String> = values
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        codes.sort();
        Ok(codes)
    }

    async fn count_customers(&self) -> StoreResult<u64> {
        self.ready().await?;
        self.coll(CUSTOMERS)
            .count_documents(doc! {})
            .await
            .map_err(err)
    }
}
