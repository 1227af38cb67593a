//! The deliveries-only upload (`upload_deliveries`): parents found by invoice phone,
//! mobile or email, deliveries matched so a re-upload adds none, and the report for
//! each kind of bad row, on SQLite and (with `AGENT5_TEST_MONGO_URI`) MongoDB.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::{mongo, sqlite};

use std::sync::Arc;

use agent5_api::import::{import_deliveries, import_prospects, Options, Report};
use agent5_api::model::{ProspectQuery, Scope};
use agent5_api::store::SharedStore;

const PARENTS: &str = "invoice_contact_name,invoice_email,invoice_phone,invoice_mobile_nr\r\n\
Acme,orders@acme.be,02 511 12 34,\r\n\
Bolt,shared@group.be,,0476 11 22 33\r\n\
Cargo,shared@group.be,03 222 33 44,\r\n\
Delta,delta@d.be,09 234 56 78,\r\n";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn parents(store: &SharedStore) {
    let r = import_prospects(
        Arc::clone(store),
        std::io::Cursor::new(PARENTS.as_bytes().to_vec()),
        Options::default(),
        |_| {},
    )
    .await
    .expect("parents");
    assert_eq!(r.created, 4, "{r:?}");
}

async fn deliveries(store: &SharedStore, options: Options) -> Report {
    import_deliveries(
        Arc::clone(store),
        std::io::Cursor::new(fixture("deliveries_excel_semicolon.csv")),
        options,
        |_| {},
    )
    .await
    .expect("deliveries import")
}

fn failed(r: &Report) -> Vec<(u64, &str)> {
    r.failures
        .failed_items
        .iter()
        .map(|f| (f.row, f.error_code))
        .collect()
}

async fn delivery_rows(store: &SharedStore, opt_out: Option<bool>) -> Vec<(String, String)> {
    let page = store
        .list_prospects(&ProspectQuery {
            scope: Scope::Delivery,
            opt_out,
            limit: 100,
            ..ProspectQuery::default()
        })
        .await
        .expect("list");
    let mut rows: Vec<(String, String)> =
        page.items.into_iter().map(|r| (r.name, r.code)).collect();
    rows.sort();
    rows
}

async fn attach(store: SharedStore) {
    parents(&store).await;
    let r = deliveries(&store, Options::default()).await;
    assert_eq!(
        (r.total, r.imported, r.created, r.updated, r.unchanged),
        (9, 5, 4, 0, 1),
        "{r:?}"
    );
    assert_eq!((r.encoding, r.delimiter.as_str()), ("utf-8 (bom)", ";"));
    assert_eq!(
        failed(&r),
        vec![
            (6, "DUPLICATE_KEY"),
            (7, "PARENT_NOT_FOUND"),
            (8, "MISSING_PARENT_KEY"),
            (9, "INVALID_PHONE"),
        ]
    );
    let ambiguous = &r.failures.failed_items[0];
    assert!(
        ambiguous.error_message.contains("shared@group.be")
            && ambiguous.error_message.contains("2 customers"),
        "{ambiguous:?}"
    );
    assert_eq!(ambiguous.original_row["delivery_contact_name"], "X");
    assert!(r.failures.failed_items[3]
        .error_message
        .starts_with("delivery_phone"));
    let items: Vec<(u64, Option<&str>, bool)> = r
        .imported_items
        .iter()
        .map(|i| (i.row, i.code.as_deref(), i.created))
        .collect();
    assert_eq!(
        items,
        vec![
            (2, Some("delivery_1"), true),
            (3, Some("delivery_1"), true),
            (4, Some("delivery_2"), true),
            (10, Some("delivery_1"), false),
            (11, Some("delivery_1"), true),
        ]
    );
    // Row 4 opted its delivery out: the phone is in DNC and the list shows it.
    assert_eq!(r.dnc_added, 1);
    assert_eq!(
        delivery_rows(&store, Some(true)).await,
        vec![("Dock B".to_owned(), "delivery_2".to_owned())]
    );
    assert_eq!(
        delivery_rows(&store, None).await,
        vec![
            ("Bolt Depot".to_owned(), "delivery_1".to_owned()),
            ("Cargo; \"North\"".to_owned(), "delivery_1".to_owned()),
            ("Dock A".to_owned(), "delivery_1".to_owned()),
            ("Dock B".to_owned(), "delivery_2".to_owned()),
        ]
    );
    let acme_id = r.imported_items[0].id.clone().expect("id");
    let acme = store.get_customer(&acme_id).await.expect("acme");
    let dock_a = &acme.delivery_addresses[0];
    assert_eq!(
        (
            dock_a.contact.language.as_str(),
            dock_a.contact.language_confirmed,
            dock_a.tags.clone(),
            dock_a.contact.phone.as_deref()
        ),
        ("nl", true, vec!["vip".to_owned()], Some("+32475100001"))
    );
    let cargo_id = r.imported_items[4].id.clone().expect("id");
    let cargo = store.get_customer(&cargo_id).await.expect("cargo");
    assert_eq!(
        cargo.delivery_addresses[0].contact.address,
        "Line 1\r\nLine 2"
    );

    // The same file again: nothing created, nothing changed, the same failures.
    let again = deliveries(&store, Options::default()).await;
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.dnc_added
        ),
        (0, 0, 5, 0),
        "{again:?}"
    );
    assert_eq!(failed(&again), failed(&r));
    assert_eq!(delivery_rows(&store, None).await.len(), 4);
}

async fn dry_run(store: SharedStore) {
    parents(&store).await;
    let r = deliveries(
        &store,
        Options {
            dry_run: true,
            ..Options::default()
        },
    )
    .await;
    assert_eq!((r.imported, r.created, r.dnc_added), (5, 0, 0), "{r:?}");
    assert!(r.dry_run);
    assert_eq!(failed(&r).len(), 4);
    assert!(delivery_rows(&store, None).await.is_empty());
    assert!(store
        .dnc_lookup(&["+32475100002".to_owned()])
        .await
        .expect("dnc")
        .is_empty());
}

#[tokio::test]
async fn attach_on_sqlite() {
    let (store, _dir) = sqlite().await;
    attach(store).await;
}

#[tokio::test]
async fn attach_on_mongo() {
    if let Some(store) = mongo("deliveries_attach").await {
        attach(store).await;
    }
}

#[tokio::test]
async fn dry_run_on_sqlite() {
    let (store, _dir) = sqlite().await;
    dry_run(store).await;
}

#[tokio::test]
async fn dry_run_on_mongo() {
    if let Some(store) = mongo("deliveries_dry_run").await {
        dry_run(store).await;
    }
}
