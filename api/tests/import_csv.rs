//! The CSV importer on real-world-shaped files (`tests/fixtures/csv/`), with the
//! report each one must produce, on SQLite and (with `AGENT5_TEST_MONGO_URI`) MongoDB.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::{mongo, sqlite};

use std::sync::Arc;

use agent5_api::import::{import_prospects, ImportError, Options, Report};
use agent5_api::model::ProspectQuery;
use agent5_api::store::SharedStore;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn run(store: &SharedStore, name: &str, options: Options) -> Result<Report, ImportError> {
    import_prospects(
        Arc::clone(store),
        std::io::Cursor::new(fixture(name)),
        options,
        |_| {},
    )
    .await
}

async fn ok(store: &SharedStore, name: &str) -> Report {
    run(store, name, Options::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rows_failed(r: &Report) -> Vec<(u64, &str)> {
    r.failures
        .failed_items
        .iter()
        .map(|f| (f.row, f.error_code))
        .collect()
}

#[allow(clippy::too_many_lines, clippy::cognitive_complexity)] // to split: one behaviour per test (issue 14)
async fn fixtures(store: SharedStore) {
    // Excel: BOM, `;`, CRLF, accents; one opt-out row with two phones.
    let r = ok(&store, "excel_semicolon_bom_crlf.csv").await;
    assert_eq!(
        (r.total, r.imported, r.created, r.failures.failed),
        (3, 3, 3, 0),
        "{r:?}"
    );
    assert_eq!((r.encoding, r.delimiter.as_str()), ("utf-8 (bom)", ";"));
    assert_eq!(
        r.imported_items.iter().map(|i| i.row).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(r.dnc_added, 2);
    let rows = store
        .list_prospects(&ProspectQuery {
            limit: 50,
            text: Some("société".into()),
            ..ProspectQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(rows.items[0].company, "Société Générale");
    // The same file again changes nothing.
    let again = ok(&store, "excel_semicolon_bom_crlf.csv").await;
    assert_eq!(
        (
            again.created,
            again.updated,
            again.unchanged,
            again.dnc_added
        ),
        (0, 0, 3, 0)
    );

    // Windows-1252 from Excel: the same people, read correctly, updates nothing.
    let r = ok(&store, "windows1252_accents.csv").await;
    assert_eq!(r.encoding, "windows-1252");
    assert_eq!((r.imported, r.unchanged), (2, 2), "{r:?}");

    // Quoted delimiters and a line break inside a cell; a blank line between rows.
    let r = ok(&store, "quoted_newlines.csv").await;
    assert_eq!((r.total, r.imported, r.failures.failed), (2, 2, 0));
    assert_eq!(
        r.imported_items.iter().map(|i| i.row).collect::<Vec<_>>(),
        vec![2, 4],
        "spreadsheet rows"
    );
    let dupont = store
        .list_prospects(&ProspectQuery {
            limit: 5,
            text: Some("dupont".into()),
            ..ProspectQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(dupont.items[0].name, "Dupont, Jean");
    assert_eq!(dupont.items[0].company, "Garage \"Chez Jean\"\nRue Haute 1");
    assert_eq!(dupont.items[0].tags, vec!["a", "b"]);

    // That number's customer exists (renamed by the file above): the first row renames
    // it again, its duplicate changes nothing, and no second customer appears.
    let before = store.count_customers().await.expect("count");
    let r = ok(&store, "duplicated_rows.csv").await;
    assert_eq!(
        (r.imported, r.created, r.updated, r.unchanged),
        (2, 0, 1, 1),
        "{r:?}"
    );
    assert_eq!(store.count_customers().await.expect("count"), before);

    let r = ok(&store, "ten_deliveries_both_spellings.csv").await;
    assert_eq!((r.imported, r.failures.failed), (1, 0));
    let id = r.imported_items[0].id.clone().expect("id");
    let king = store.get_customer(&id).await.expect("customer");
    assert_eq!(king.delivery_addresses.len(), 10);
    assert_eq!(king.delivery_addresses[9].code, "delivery_10");
    assert_eq!(
        king.delivery_addresses[9].contact.phone.as_deref(),
        Some("+32475000010")
    );
    assert_eq!(king.delivery_addresses[1].contact.city, "City 2");

    let r = ok(&store, "bad_phones.csv").await;
    assert_eq!((r.total, r.imported, r.failures.failed), (4, 1, 3));
    assert_eq!(
        rows_failed(&r),
        vec![
            (3, "INVALID_PHONE"),
            (4, "INVALID_PHONE"),
            (5, "INVALID_PHONE")
        ]
    );
    assert!(
        r.failures.failed_items[2]
            .error_message
            .contains("delivery_1_phone"),
        "{:?}",
        r.failures.failed_items[2]
    );
    assert_eq!(
        r.failures.failed_items[0].original_row["invoice_contact_name"],
        "Short"
    );

    let err = run(&store, "unknown_columns.csv", Options::default())
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), "unknown_columns");
    assert!(
        err.to_string().contains("fax") && err.to_string().contains("custom_nope"),
        "{err}"
    );
    let r = run(
        &store,
        "unknown_columns.csv",
        Options {
            ignore_unknown: true,
            ..Options::default()
        },
    )
    .await
    .expect("ignored");
    assert_eq!(r.imported, 1);

    let r = ok(&store, "empty_lines.csv").await;
    assert_eq!((r.total, r.imported), (2, 2));
    assert_eq!(
        r.imported_items.iter().map(|i| i.row).collect::<Vec<_>>(),
        vec![3, 6]
    );

    let err = run(&store, "zero_bytes.csv", Options::default())
        .await
        .expect_err("empty");
    assert_eq!(err.code(), "empty_file");
    let r = ok(&store, "header_only.csv").await;
    assert_eq!((r.total, r.imported, r.failures.failed), (0, 0, 0));
    let err = run(&store, "binary_renamed.csv", Options::default())
        .await
        .expect_err("binary");
    assert_eq!(err.code(), "unknown_columns");
}

async fn dry_run_and_row_limit(store: SharedStore) {
    let r = run(
        &store,
        "excel_semicolon_bom_crlf.csv",
        Options {
            dry_run: true,
            ..Options::default()
        },
    )
    .await
    .expect("dry");
    assert_eq!((r.imported, r.created, r.dnc_added), (3, 0, 0));
    assert!(r.dry_run);
    assert_eq!(
        store.count_customers().await.expect("count"),
        0,
        "a dry run writes nothing"
    );
    assert!(store
        .dnc_lookup(&["+32475123456".into()])
        .await
        .expect("dnc")
        .is_empty());

    let err = run(
        &store,
        "excel_semicolon_bom_crlf.csv",
        Options {
            max_rows: 2,
            ..Options::default()
        },
    )
    .await
    .expect_err("limit");
    assert_eq!(err.code(), "too_many_rows");
    assert!(err.to_string().contains("row 4"), "{err}");
    assert_eq!(
        store.count_customers().await.expect("count"),
        2,
        "the rows before the limit are stored"
    );
}

#[tokio::test]
async fn fixtures_on_sqlite() {
    let (store, _dir) = sqlite().await;
    fixtures(store).await;
}

#[tokio::test]
async fn fixtures_on_mongo() {
    if let Some(store) = mongo("fixtures").await {
        fixtures(store).await;
    }
}

#[tokio::test]
async fn dry_run_and_row_limit_on_sqlite() {
    let (store, _dir) = sqlite().await;
    dry_run_and_row_limit(store).await;
}

#[tokio::test]
async fn dry_run_and_row_limit_on_mongo() {
    if let Some(store) = mongo("limits").await {
        dry_run_and_row_limit(store).await;
    }
}
