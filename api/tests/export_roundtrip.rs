//! Property: any rows the prospects import accepts can be exported
//! (`GET /api/prospects/export.csv`) and imported again into an empty store to the same
//! stored customers (contacts, deliveries, custom values, tags) without losing an
//! opt-out, and importing the export over the original store changes nothing. The DNC
//! list itself travels with `/api/dnc/export.csv`: the prospects file has one opt-out
//! column per contact, not per phone.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::csv_out::push_line;
use agent5_api::import::{import_prospects, Options, Report};
use agent5_api::model::{Customer, FieldDef};
use agent5_api::prospects::columns::{
    delivery_header, invoice_header, CellKind, ContactColumn, COLUMNS,
};
use agent5_api::prospects::export;
use agent5_api::store::SharedStore;
use futures_util::TryStreamExt;
use proptest::prelude::*;
use serde_json::Value;

/// Valid Belgian numbers (landline and mobile), written as people type them.
const PHONES: [&str; 6] = [
    "02 511 12 34",
    "+32 475 12 34 56",
    "0032 9 234 56 78",
    "0476 11 22 33",
    "050 33 44 55",
    "+32 3 222 33 44",
];

fn defs() -> Vec<FieldDef> {
    let def = |key: &str, kind: &str, options: &[&str]| FieldDef {
        id: String::new(),
        key: key.into(),
        label: key.into(),
        kind: kind.parse().expect("kind"),
        required: false,
        options: options.iter().map(|o| (*o).to_owned()).collect(),
        regex: None,
        default: None,
        visibility: agent5_api::model::Visibility::Both,
        order: 0,
    };
    vec![
        def("credit", "number", &[]),
        def("tier", "enum", &["Gold", "Silver"]),
        def("vip", "boolean", &[]),
        def("since", "date", &[]),
    ]
}

/// Free text with the characters that break naive CSV: delimiters, quotes, line breaks,
/// accents, and surrounding spaces.
fn text() -> impl Strategy<Value = String> {
    // `= + - @ '` too: formula-like cells leave neutralised and come back as they were.
    "[a-zA-Z0-9éèüß ,;\"\n=+@'-]{0,10}"
}

fn optional<S: Strategy<Value = String>>(s: S) -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), s]
}

fn phone() -> impl Strategy<Value = String> {
    optional(prop::sample::select(PHONES.to_vec()).prop_map(str::to_owned))
}

fn boolean() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "1", "0", "yes", "Nee", "TRUE"]).prop_map(str::to_owned)
}

fn language() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "nl", "FR", "de", "en"]).prop_map(str::to_owned)
}

fn tags() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z]{1,6}", 0..3).prop_map(|t| t.join("; "))
}

fn credit() -> impl Strategy<Value = String> {
    optional(prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        (0u32..10_000, 1u32..100).prop_map(|(a, b)| format!("{a},{b}")),
    ])
}

/// A cell of `kind` as people type it.
fn cell(kind: CellKind) -> BoxedStrategy<String> {
    match kind {
        CellKind::Text => text().boxed(),
        CellKind::Email => optional("[a-z]{1,5}@[a-z]{1,5}\\.be").boxed(),
        CellKind::Phone => phone().boxed(),
        CellKind::Flag => boolean().boxed(),
        CellKind::Language => language().boxed(),
        CellKind::Tags => tags().boxed(),
    }
}

/// Every contact column of [`COLUMNS`] on this side, with its value strategy.
fn contact_cells(on: fn(&ContactColumn) -> bool) -> Vec<BoxedStrategy<String>> {
    COLUMNS
        .iter()
        .filter(|c| on(c))
        .map(|c| cell(c.kind))
        .collect()
}

/// The custom fields' cells, in [`defs`] order.
fn custom_cells() -> Vec<BoxedStrategy<String>> {
    vec![
        credit().boxed(),
        optional(prop::sample::select(vec!["gold", "Silver"]).prop_map(str::to_owned)).boxed(),
        boolean().boxed(),
        optional(prop::sample::select(vec!["2024-02-29", "01/05/2023"]).prop_map(str::to_owned))
            .boxed(),
    ]
}

#[derive(Debug, Clone)]
struct Row {
    /// Cells of the invoice columns, then the custom fields.
    invoice: Vec<String>,
    /// (delivery number, cells of the delivery columns, then `custom_credit`)
    deliveries: Vec<(u8, Vec<String>)>,
}

fn row() -> impl Strategy<Value = Row> {
    let mut invoice = contact_cells(ContactColumn::on_invoice);
    invoice.extend(custom_cells());
    let mut delivery = contact_cells(ContactColumn::on_delivery);
    delivery.push(credit().boxed());
    let delivery = (1u8..=10, delivery);
    (invoice, prop::collection::vec(delivery, 0..3)).prop_map(|(invoice, mut deliveries)| {
        deliveries.sort_by_key(|d| d.0);
        deliveries.dedup_by_key(|d| d.0);
        Row {
            invoice,
            deliveries,
        }
    })
}

fn csv(rows: &[Row]) -> Vec<u8> {
    let mut header: Vec<String> = invoice_header().collect();
    header.extend(defs().iter().map(|d| format!("custom_{}", d.key)));
    let width = COLUMNS.iter().filter(|c| c.on_delivery()).count() + 1;
    for n in 1..=10 {
        header.extend(delivery_header(n));
        header.push(format!("delivery_{n}_custom_credit"));
    }
    let mut out = String::new();
    push_line(&mut out, &header);
    for r in rows {
        let mut cells = r.invoice.clone();
        for n in 1..=10u8 {
            match r.deliveries.iter().find(|d| d.0 == n) {
                Some((_, d)) => cells.extend(d.iter().cloned()),
                None => cells.extend(std::iter::repeat_n(String::new(), width)),
            }
        }
        push_line(&mut out, &cells);
    }
    out.into_bytes()
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Mongo,
}

/// A fresh store with the field definitions (`None` when MongoDB is not configured).
async fn store_with_defs(backend: Backend) -> Option<(SharedStore, Option<tempfile::TempDir>)> {
    let (store, dir) = match backend {
        Backend::Sqlite => {
            let (s, d) = common::sqlite().await;
            (s, Some(d))
        }
        Backend::Mongo => (common::mongo("export_roundtrip").await?, None),
    };
    for (i, mut d) in defs().into_iter().enumerate() {
        d.id = format!("def{i}");
        store.create_field_def(d).await.expect("def");
    }
    Some((store, dir))
}

async fn import(store: &SharedStore, bytes: Vec<u8>) -> Report {
    import_prospects(
        Arc::clone(store),
        std::io::Cursor::new(bytes),
        Options::default(),
        |_| {},
    )
    .await
    .expect("import")
}

async fn export_bytes(store: &SharedStore) -> Vec<u8> {
    let stream = export::stream(Arc::clone(store), true)
        .await
        .expect("export");
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.expect("export body");
    chunks.concat()
}

/// The stored customers without ids, timestamps and versions, in a stable order.
async fn customers(store: &SharedStore) -> (BTreeSet<String>, Vec<String>) {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_customers(after.as_deref(), 100)
            .await
            .expect("list");
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        all.extend(page);
    }
    let phones: Vec<String> = all.iter().flat_map(Customer::phones).collect();
    let docs = all
        .into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c).expect("json");
            if let Value::Object(m) = &mut v {
                for k in ["id", "created_at", "updated_at", "version"] {
                    m.remove(k);
                }
            }
            canonical(&v)
        })
        .collect();
    (docs, phones)
}

async fn opted_out(store: &SharedStore, phones: &[String]) -> BTreeSet<String> {
    store
        .dnc_lookup(phones)
        .await
        .expect("dnc")
        .into_iter()
        .collect()
}

/// JSON text with object keys sorted (custom values keep insertion order in memory).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The property for one generated file on one backend.
async fn round_trip(backend: Backend, rows: &[Row]) {
    let Some((original, _d1)) = store_with_defs(backend).await else {
        return;
    };
    let first = import(&original, csv(rows)).await;
    let exported = export_bytes(&original).await;

    let Some((copy, _d2)) = store_with_defs(backend).await else {
        return;
    };
    let second = import(&copy, exported.clone()).await;
    assert_eq!(
        second.failures.failed, 0,
        "the export must import cleanly: {second:?}"
    );
    assert_eq!(
        second.imported,
        original.count_customers().await.expect("count")
    );
    let (docs, phones) = customers(&original).await;
    assert_eq!(customers(&copy).await.0, docs);
    // No opt-out is lost. (The file has one opt-out column per contact, so a contact
    // with one of its two phones opted out comes back with both: the exact list
    // travels with /api/dnc/export.csv.)
    let before = opted_out(&original, &phones).await;
    assert!(opted_out(&copy, &phones).await.is_superset(&before));

    // Over the original store, the export changes no customer.
    let again = import(&original, exported).await;
    assert_eq!(
        (again.created, again.updated),
        (0, 0),
        "first import: {first:?}"
    );
    assert_eq!(customers(&original).await.0, docs);
    assert!(opted_out(&original, &phones).await.is_superset(&before));
}

fn block_on(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn export_reimports_to_the_same_state_on_sqlite(rows in prop::collection::vec(row(), 1..8)) {
        block_on(round_trip(Backend::Sqlite, &rows));
    }
}

proptest! {
    // Each case creates two databases on the server: fewer cases, same property.
    #![proptest_config(ProptestConfig {
        cases: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn export_reimports_to_the_same_state_on_mongo(rows in prop::collection::vec(row(), 1..8)) {
        block_on(round_trip(Backend::Mongo, &rows));
    }
}
