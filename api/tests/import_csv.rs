//! The CSV importer on real-world-shaped files (`tests/fixtures/csv/<name>.csv`), each
//! its own test with the report it must produce beside it (`<name>.expected.json`:
//! the fixtures it follows, then each run's options and report or error code), on
//! SQLite and (with `AGENT5_TEST_MONGO_URI`) MongoDB.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use std::sync::Arc;

use agent5_api::import::{import_prospects, ImportError, Options, Report};
use agent5_api::model::ProspectQuery;
use agent5_api::store::SharedStore;
use serde_json::Value;

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

/// A report (as its JSON) holds everything `expected` says: objects key by key,
/// arrays element by element (same length), anything else equal. Paths name the
/// first difference.
fn assert_holds(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                assert_holds(av, ev, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: length");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_holds(av, ev, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

fn expected(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/csv/{name}.expected.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Imports the fixtures `name` follows (`after`), then `name` once per entry of its
/// `runs`, each checked against its expected report or error code. Returns the
/// reports of the runs that succeeded, in order.
async fn check(store: &SharedStore, name: &str) -> Vec<Report> {
    let spec = expected(name);
    for before in spec["after"].as_array().into_iter().flatten() {
        let before = before.as_str().expect("fixture name");
        ok(store, &format!("{before}.csv")).await;
    }
    let mut reports = Vec::new();
    for (i, want) in spec["runs"].as_array().expect("runs").iter().enumerate() {
        let options = Options {
            ignore_unknown: want["options"]["ignore_unknown"].as_bool() == Some(true),
            ..Options::default()
        };
        let got = run(store, &format!("{name}.csv"), options).await;
        match (got, want["error"].as_str()) {
            (Ok(r), None) => {
                let json = serde_json::to_value(&r).expect("report json");
                assert_holds(&json, &want["report"], &format!("{name} run {i}"));
                reports.push(r);
            }
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{name} run {i}: {e}"),
            (got, _) => panic!("{name} run {i}: {got:?}, expected {want}"),
        }
    }
    reports
}

async fn excel_semicolon_bom_crlf(store: SharedStore) {
    check(&store, "excel_semicolon_bom_crlf").await;
    let rows = store
        .list_prospects(&ProspectQuery {
            limit: 50,
            text: Some("société".into()),
            ..ProspectQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(rows.items[0].company, "Société Générale");
}

async fn windows1252_accents(store: SharedStore) {
    check(&store, "windows1252_accents").await;
}

async fn quoted_newlines(store: SharedStore) {
    check(&store, "quoted_newlines").await;
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
}

async fn duplicated_rows(store: SharedStore) {
    for before in [
        "excel_semicolon_bom_crlf",
        "windows1252_accents",
        "quoted_newlines",
    ] {
        ok(&store, &format!("{before}.csv")).await;
    }
    let before = store.count_customers().await.expect("count");
    let r = ok(&store, "duplicated_rows.csv").await;
    let json = serde_json::to_value(&r).expect("json");
    assert_holds(
        &json,
        &expected("duplicated_rows")["runs"][0]["report"],
        "duplicated_rows",
    );
    assert_eq!(
        store.count_customers().await.expect("count"),
        before,
        "no second customer appears"
    );
}

async fn ten_deliveries_both_spellings(store: SharedStore) {
    let r = check(&store, "ten_deliveries_both_spellings").await;
    let id = r[0].imported_items[0].id.clone().expect("id");
    let king = store.get_customer(&id).await.expect("customer");
    assert_eq!(king.delivery_addresses.len(), 10);
    assert_eq!(king.delivery_addresses[9].code, "delivery_10");
    assert_eq!(
        king.delivery_addresses[9].contact.phone.as_deref(),
        Some("+32475000010")
    );
    assert_eq!(king.delivery_addresses[1].contact.city, "City 2");
}

async fn bad_phones(store: SharedStore) {
    let r = check(&store, "bad_phones").await;
    assert!(
        r[0].failures.failed_items[2]
            .error_message
            .contains("delivery_1_phone"),
        "{:?}",
        r[0].failures.failed_items[2]
    );
}

async fn unknown_columns(store: SharedStore) {
    check(&store, "unknown_columns").await;
    let err = run(&store, "unknown_columns.csv", Options::default())
        .await
        .expect_err("unknown");
    assert!(
        err.to_string().contains("fax") && err.to_string().contains("custom_nope"),
        "{err}"
    );
}

async fn empty_lines(store: SharedStore) {
    check(&store, "empty_lines").await;
}

async fn zero_bytes(store: SharedStore) {
    check(&store, "zero_bytes").await;
}

async fn header_only(store: SharedStore) {
    check(&store, "header_only").await;
}

async fn binary_renamed(store: SharedStore) {
    check(&store, "binary_renamed").await;
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

common::on_both_stores!(
    excel_semicolon_bom_crlf,
    windows1252_accents,
    quoted_newlines,
    duplicated_rows,
    ten_deliveries_both_spellings,
    bad_phones,
    unknown_columns,
    empty_lines,
    zero_bytes,
    header_only,
    binary_renamed,
    dry_run_and_row_limit,
);
