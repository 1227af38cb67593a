//! Customers and the prospect list on SQLite.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

use super::{err, SqliteStore};

use crate::model::{
    now_millis, upsert_key, AttachError, AttachPlan, Attached, ContactKind, ContactRow, Customer,
    NewCustomer, NewDelivery, Page, Parent, ParentKey, ProspectQuery, Scope, Upserted,
};
use crate::store::{CustomerStore, StoreError, StoreResult};

fn decode(doc: &str) -> StoreResult<Customer> {
    serde_json::from_str(doc)
        .map_err(|e| StoreError::Unavailable(format!("corrupt customer document: {e}")))
}

fn encode(c: &Customer) -> StoreResult<String> {
    serde_json::to_string(c).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Every tag on any contact row of `c` (what its `contact_tags` rows can hold).
fn row_tags(c: &Customer) -> Vec<String> {
    let mut tags: Vec<String> = c
        .tags
        .iter()
        .chain(c.delivery_addresses.iter().flat_map(|d| d.tags.iter()))
        .cloned()
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// Writes the customer row and rebuilds its contact rows (with DNC flags) in `tx`.
/// `previous` is the stored version being replaced (`None` inserts): its tags say which
/// `contact_tags` rows to delete through the `(tag, cid)` key.
pub(super) fn write_customer(
    tx: &Transaction<'_>,
    c: &Customer,
    previous: Option<&[String]>,
) -> StoreResult<()> {
    let insert = previous.is_none();
    let key = upsert_key(&c.invoice).ok_or_else(|| {
        StoreError::Invalid("a customer needs an invoice phone, mobile, or name and email".into())
    })?;
    let doc = encode(c)?;
    if insert {
        tx.prepare_cached(
            "INSERT INTO customers (id, upsert_key, doc, archived, created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| s.execute(params![c.id, key, doc, c.archived, c.created_at, c.updated_at, c.version]))
        .map_err(err)?;
    } else {
        tx.prepare_cached(
            "UPDATE customers SET upsert_key = ?2, doc = ?3, archived = ?4, updated_at = ?5, version = ?6 WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![c.id, key, doc, c.archived, c.updated_at, c.version]))
        .map_err(err)?;
        let mut del = tx
            .prepare_cached(
                "DELETE FROM contact_tags WHERE tag = ?1 AND cid IN (SELECT cid FROM contacts WHERE customer_id = ?2)",
            )
            .map_err(err)?;
        for tag in previous.unwrap_or_default() {
            del.execute(params![tag, c.id]).map_err(err)?;
        }
        tx.prepare_cached("DELETE FROM contacts WHERE customer_id = ?1")
            .and_then(|mut s| s.execute([&c.id]))
            .map_err(err)?;
    }
    let phones = c.phones();
    let mut opted = Vec::new();
    {
        let mut s = tx
            .prepare_cached("SELECT 1 FROM dnc WHERE phone_e164 = ?1")
            .map_err(err)?;
        for p in &phones {
            if s.exists([p]).map_err(err)? {
                opted.push(p.clone());
            }
        }
    }
    let rows = c.contact_rows(&|p| opted.iter().any(|o| o == p));
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO contacts (customer_id, kind, code, name, company, email, phone, mobile, language, language_confirmed, tags, opt_out, archived, updated_at, search)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )
        .map_err(err)?;
    let mut tag = tx
        .prepare_cached("INSERT OR IGNORE INTO contact_tags (tag, cid) VALUES (?1, ?2)")
        .map_err(err)?;
    for r in rows {
        let tags =
            serde_json::to_string(&r.tags).map_err(|e| StoreError::Invalid(e.to_string()))?;
        ins.execute(params![
            r.customer_id,
            r.kind.as_str(),
            r.code,
            r.name,
            r.company,
            r.email,
            r.phone,
            r.mobile,
            r.language,
            r.language_confirmed,
            tags,
            r.opt_out,
            r.archived,
            r.updated_at,
            r.search_text(),
        ])
        .map_err(err)?;
        let cid = tx.last_insert_rowid();
        for t in &r.tags {
            tag.execute(params![t, cid]).map_err(err)?;
        }
    }
    Ok(())
}

fn get(conn: &Connection, id: &str) -> StoreResult<Customer> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM customers WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(err)?;
    decode(&doc.ok_or(StoreError::NotFound)?)
}

fn upsert_batch(conn: &mut Connection, batch: Vec<NewCustomer>) -> StoreResult<Vec<Upserted>> {
    let now = now_millis();
    let keys = batch
        .iter()
        .enumerate()
        .map(|(i, new)| {
            new.upsert_key().ok_or_else(|| {
                StoreError::Invalid(format!(
                    "item {i}: no invoice phone, mobile, or name and email"
                ))
            })
        })
        .collect::<StoreResult<Vec<String>>>()?;
    let tx = conn.transaction().map_err(err)?;
    // Which keys exist already: one query per chunk instead of one seek per row.
    let mut stored: std::collections::HashMap<String, Customer> = std::collections::HashMap::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT upsert_key, doc FROM customers WHERE upsert_key IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut s = tx.prepare_cached(&sql).map_err(err)?;
        let rows = s
            .query_map(params_from_iter(chunk.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(err)?;
        for row in rows {
            let (key, doc) = row.map_err(err)?;
            stored.insert(key, decode(&doc)?);
        }
    }
    let mut out = Vec::with_capacity(batch.len());
    for (new, key) in batch.into_iter().zip(keys) {
        match stored.get_mut(&key) {
            Some(c) => {
                let old_tags = row_tags(c);
                let changed = c.merge(new, now);
                if changed {
                    c.version += 1;
                    write_customer(&tx, c, Some(&old_tags))?;
                }
                out.push(Upserted {
                    id: c.id.clone(),
                    created: false,
                    changed,
                });
            }
            None => {
                let c = Customer::create(new, now);
                write_customer(&tx, &c, None)?;
                out.push(Upserted {
                    id: c.id.clone(),
                    created: true,
                    changed: true,
                });
                // A later row of the same batch with this key updates this customer.
                stored.insert(key, c);
            }
        }
    }
    tx.commit().map_err(err)?;
    Ok(out)
}

/// The customers one parent key finds.
fn parent_ids(tx: &Transaction<'_>, key: &ParentKey) -> StoreResult<Vec<String>> {
    let (sql, arg) = match key {
        ParentKey::Phone(p) => (
            "SELECT customer_id FROM contacts WHERE kind = 'invoice' AND phone = ?1
             UNION SELECT customer_id FROM contacts WHERE kind = 'invoice' AND mobile = ?1",
            p,
        ),
        ParentKey::Email(e) => (
            "SELECT DISTINCT customer_id FROM contacts WHERE kind = 'invoice' AND lower(email) = ?1",
            e,
        ),
    };
    let mut s = tx.prepare_cached(sql).map_err(err)?;
    let ids = s
        .query_map([arg], |r| r.get::<_, String>(0))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(ids)
}

fn attach_batch(
    conn: &mut Connection,
    batch: Vec<NewDelivery>,
    dry_run: bool,
) -> StoreResult<Vec<Result<Attached, AttachError>>> {
    let tx = conn.transaction().map_err(err)?;
    // What a customer was read at: the tags its stored contact rows carry.
    let mut plan = AttachPlan::new(now_millis(), batch.len());
    for item in batch {
        let mut parent: Parent = None;
        for key in &item.parent {
            parent = key.pick(parent_ids(&tx, key)?);
            if parent.is_some() {
                break;
            }
        }
        if let Some(id) = plan.to_load(&parent) {
            let c = get(&tx, id)?;
            let tags = row_tags(&c);
            plan.load(c, tags);
        }
        plan.attach(parent, item.delivery);
    }
    let (outcomes, changed) = plan.finish();
    if !dry_run {
        for (c, old_tags) in changed {
            write_customer(&tx, &c, Some(old_tags.as_slice()))?;
        }
        tx.commit().map_err(err)?;
    }
    Ok(outcomes)
}

/// The list query, as SQL with its parameters.
fn list_sql(q: &ProspectQuery) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(
        "SELECT customer_id, kind, code, name, company, email, phone, mobile, language, language_confirmed, tags, opt_out, archived, updated_at FROM contacts WHERE ",
    );
    let mut args: Vec<SqlValue> = Vec::new();
    sql.push_str(match q.scope {
        Scope::Invoice => "kind = 'invoice'",
        Scope::Delivery => "kind = 'delivery'",
        Scope::Both => "kind IN ('invoice', 'delivery')",
    });
    if !q.show_archived {
        sql.push_str(" AND archived = 0");
    }
    if let Some(lang) = &q.language {
        sql.push_str(" AND language = ?");
        args.push(SqlValue::Text(lang.clone()));
    }
    if let Some(confirmed) = q.language_confirmed {
        sql.push_str(" AND language_confirmed = ?");
        args.push(SqlValue::Integer(i64::from(confirmed)));
    }
    if let Some(opt_out) = q.opt_out {
        sql.push_str(" AND opt_out = ?");
        args.push(SqlValue::Integer(i64::from(opt_out)));
    }
    // One primary-key probe per tag and candidate row: the walk in page order stops
    // after `offset + limit` matches instead of collecting every tagged row first.
    for tag in &q.tags {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM contact_tags WHERE tag = ? AND cid = contacts.cid)",
        );
        args.push(SqlValue::Text(tag.clone()));
    }
    let text = q
        .text
        .as_deref()
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty());
    if text.is_some() || !q.phones.is_empty() {
        let mut alts = Vec::new();
        if let Some(t) = text {
            // instr() is a plain substring test: no pattern language to escape.
            alts.push("instr(search, ?) > 0".to_owned());
            args.push(SqlValue::Text(t));
        }
        if !q.phones.is_empty() {
            let marks = vec!["?"; q.phones.len()].join(", ");
            alts.push(format!("phone IN ({marks}) OR mobile IN ({marks})"));
            args.extend(q.phones.iter().cloned().map(SqlValue::Text));
            args.extend(q.phones.iter().cloned().map(SqlValue::Text));
        }
        sql.push_str(&format!(" AND ({})", alts.join(" OR ")));
    }
    sql.push_str(match q.sort.by() {
        None => " ORDER BY updated_at DESC, customer_id, code",
        Some(("name", true)) => " ORDER BY name, customer_id, code",
        Some(("name", false)) => " ORDER BY name DESC, customer_id, code",
        Some((_, true)) => " ORDER BY company, customer_id, code",
        Some((_, false)) => " ORDER BY company DESC, customer_id, code",
    });
    sql.push_str(" LIMIT ? OFFSET ?");
    args.push(SqlValue::Integer(
        i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    args.push(SqlValue::Integer(
        i64::try_from(q.offset).unwrap_or(i64::MAX),
    ));
    (sql, args)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ContactRow, String)> {
    let kind: String = r.get(1)?;
    let tags: String = r.get(10)?;
    Ok((
        ContactRow {
            customer_id: r.get(0)?,
            kind: ContactKind::parse(&kind).unwrap_or(ContactKind::Invoice),
            code: r.get(2)?,
            name: r.get(3)?,
            company: r.get(4)?,
            email: r.get(5)?,
            phone: r.get(6)?,
            mobile: r.get(7)?,
            language: r.get(8)?,
            language_confirmed: r.get(9)?,
            tags: Vec::new(),
            opt_out: r.get(11)?,
            archived: r.get(12)?,
            updated_at: r.get(13)?,
        },
        tags,
    ))
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn upsert_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<Vec<Upserted>> {
        self.write(move |c| upsert_batch(c, batch)).await
    }

    async fn get_customer(&self, id: &str) -> StoreResult<Customer> {
        let id = id.to_owned();
        self.read(move |c| get(c, &id)).await
    }

    async fn replace_customer(&self, customer: Customer) -> StoreResult<Customer> {
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            let current = get(&tx, &customer.id)?;
            if current.version != customer.version {
                return Err(StoreError::Conflict {
                    field: "version".into(),
                });
            }
            let mut next = customer;
            next.created_at = current.created_at;
            next.updated_at = now_millis().max(current.updated_at);
            next.version += 1;
            write_customer(&tx, &next, Some(&row_tags(&current)))?;
            tx.commit().map_err(err)?;
            Ok(next)
        })
        .await
    }

    async fn set_archived(&self, id: &str, archived: bool) -> StoreResult<Customer> {
        let id = id.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(err)?;
            let mut c = get(&tx, &id)?;
            if c.archived != archived {
                c.archived = archived;
                c.updated_at = now_millis().max(c.updated_at);
                c.version += 1;
                let tags = row_tags(&c);
                write_customer(&tx, &c, Some(&tags))?;
            }
            tx.commit().map_err(err)?;
            Ok(c)
        })
        .await
    }

    async fn list_prospects(&self, query: &ProspectQuery) -> StoreResult<Page<ContactRow>> {
        let (sql, args) = list_sql(query);
        let limit = query.limit;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(err)?;
            let items = stmt
                .query_map(params_from_iter(args), row)
                .map_err(err)?
                .map(|r| {
                    let (mut row, tags) = r.map_err(err)?;
                    row.tags = serde_json::from_str(&tags).unwrap_or_default();
                    Ok(row)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Page::from_overfetch(items, limit))
        })
        .await
    }

    async fn attach_deliveries(
        &self,
        batch: Vec<NewDelivery>,
        dry_run: bool,
    ) -> StoreResult<Vec<Result<Attached, AttachError>>> {
        self.write(move |c| attach_batch(c, batch, dry_run)).await
    }

    async fn list_customers(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Customer>> {
        let after = after.unwrap_or_default().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut s = c
                .prepare_cached("SELECT doc FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2")
                .map_err(err)?;
            let docs = s
                .query_map(params![after, limit], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            docs.iter().map(|d| decode(d)).collect()
        })
        .await
    }

    async fn delivery_codes(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(
                    "SELECT DISTINCT code FROM contacts WHERE kind = 'delivery' ORDER BY code",
                )
                .map_err(err)?;
            let codes = s
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(codes)
        })
        .await
    }

    async fn count_customers(&self) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c
                .query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
                .map_err(err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}
