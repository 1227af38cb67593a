//! `GET /api/prospects/export.csv`: every customer as one row of the prospects upload
//! (`template.csv` columns, then `delivery_N_*` groups for as many deliveries as are in
//! use, then the custom fields), so the file can be edited in Excel and uploaded again:
//! re-importing an export changes nothing. Streamed page by page; `opt_out` is read
//! from the do-not-call list at export time.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{Map, Value};

use super::columns::{self, yes_no, ContactCells, COLUMNS};
use crate::csv_out::push_line;
use crate::http::ApiError;
use crate::model::{delivery_number, Contact, Customer, FieldDef};
use crate::store::{SharedStore, StoreError};
use crate::AppState;

const PAGE: u64 = 500;

/// The export's shape: how many delivery groups and which custom keys.
struct Shape {
    slots: usize,
    keys: Vec<String>,
}

impl Shape {
    fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = columns::invoice_header().collect();
        h.extend(self.keys.iter().map(|k| format!("custom_{k}")));
        for n in 1..=self.slots {
            h.extend(columns::delivery_header(n));
            h.extend(self.keys.iter().map(|k| format!("delivery_{n}_custom_{k}")));
        }
        h
    }

    fn row(&self, c: &Customer, opted_out: &HashSet<String>) -> Vec<String> {
        let opt_out = |ct: &Contact| {
            [&ct.phone, &ct.mobile]
                .into_iter()
                .flatten()
                .any(|p| opted_out.contains(p))
        };
        let invoice = ContactCells {
            contact: &c.invoice,
            tags: &c.tags,
            notes: "",
            opted_out: opt_out(&c.invoice),
        };
        let mut row: Vec<String> = COLUMNS
            .iter()
            .filter(|col| col.on_invoice())
            .map(|col| invoice.get(col.field))
            .collect();
        row.extend(self.custom(&c.invoice.custom));
        let group = COLUMNS.iter().filter(|col| col.on_delivery()).count() + self.keys.len();
        for n in 1..=self.slots {
            match c
                .delivery_addresses
                .iter()
                .find(|d| delivery_number(&d.code) == Some(n))
            {
                Some(d) => {
                    let cells = ContactCells {
                        contact: &d.contact,
                        tags: &d.tags,
                        notes: &d.notes,
                        opted_out: opt_out(&d.contact),
                    };
                    row.extend(
                        COLUMNS
                            .iter()
                            .filter(|col| col.on_delivery())
                            .map(|col| cells.get(col.field)),
                    );
                    row.extend(self.custom(&d.contact.custom));
                }
                None => row.extend(std::iter::repeat_n(String::new(), group)),
            }
        }
        row
    }

    fn custom<'a>(&'a self, values: &'a Map<String, Value>) -> impl Iterator<Item = String> + 'a {
        self.keys
            .iter()
            .map(|k| values.get(k).map(cell).unwrap_or_default())
    }
}

/// A stored custom value as the upload reads it back.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => yes_no(*b),
        other => other.to_string(),
    }
}

async fn shape(store: &SharedStore) -> Result<Shape, StoreError> {
    let defs: Vec<FieldDef> = store.list_field_defs().await?;
    let slots = store
        .delivery_codes()
        .await?
        .iter()
        .filter_map(|c| delivery_number(c))
        .max()
        .unwrap_or(0);
    Ok(Shape {
        slots,
        keys: defs.into_iter().map(|d| d.key).collect(),
    })
}

/// One page of customers as CSV lines, and the id to continue after.
async fn page(
    store: &SharedStore,
    shape: &Shape,
    after: Option<&str>,
    show_archived: bool,
) -> Result<(String, Option<String>), StoreError> {
    let customers = store.list_customers(after, PAGE).await?;
    let next = (customers.len() as u64 == PAGE)
        .then(|| customers.last().map(|c| c.id.clone()))
        .flatten();
    let phones: Vec<String> = customers.iter().flat_map(Customer::phones).collect();
    let opted: HashSet<String> = store.dnc_lookup(&phones).await?.into_iter().collect();
    let mut out = String::new();
    for c in customers.iter().filter(|c| show_archived || !c.archived) {
        push_line(&mut out, &shape.row(c, &opted));
    }
    Ok((out, next.map(String::from)))
}

/// The export as a stream of CSV chunks (UTF-8 with a BOM for Excel, CRLF lines). A
/// store failure after the first chunk ends the stream with an error, which aborts
/// the response instead of passing off a partial file as complete.
pub async fn stream(
    store: SharedStore,
    show_archived: bool,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>>, StoreError> {
    let shape = shape(&store).await?;
    let mut header = String::from("\u{feff}");
    push_line(&mut header, &shape.header());
    // Pages: None = not started, Some(None) = done, Some(Some(id)) = continue after id.
    let state = (store, shape, Some(header), None::<Option<String>>);
    Ok(futures_util::stream::unfold(
        state,
        move |(store, shape, header, cursor)| async move {
            if let Some(h) = header {
                return Some((Ok(Bytes::from(h)), (store, shape, None, None)));
            }
            let after = match &cursor {
                Some(None) => return None,
                Some(Some(id)) => Some(id.as_str()),
                None => None,
            };
            match page(&store, &shape, after, show_archived).await {
                Ok((chunk, next)) => {
                    Some((Ok(Bytes::from(chunk)), (store, shape, None, Some(next))))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prospects export stopped");
                    Some((
                        Err(std::io::Error::other(e.to_string())),
                        (store, shape, None, Some(None)),
                    ))
                }
            }
        },
    ))
}

/// `GET /api/prospects/export.csv?show_archived=1`
pub async fn export(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
    actor: crate::http::Actor,
) -> Result<Response, ApiError> {
    let show_archived = crate::http::flag(&params, "show_archived")?.unwrap_or(false);
    let body = stream(state.store.clone(), show_archived).await?;
    let detail = serde_json::json!({ "show_archived": show_archived }).to_string();
    state
        .store
        .append_audit(actor.entry("export.prospects", "prospects", detail))
        .await?;
    Ok(crate::csv_out::attachment(
        Body::from_stream(body),
        "prospects.csv",
    ))
}
