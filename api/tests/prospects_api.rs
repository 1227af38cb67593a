//! `/api/prospects` through the real router, on SQLite and (with
//! `AGENT5_TEST_MONGO_URI`) on MongoDB: the list and its filters, opt-out, field
//! definitions, and one prospect's routes.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::router::{call, names, seeded};

use std::sync::Arc;

use agent5_api::store::SharedStore;
use serde_json::json;

async fn the_list_shows_invoice_rows_with_phone_tags_and_opt_out(store: SharedStore) {
    let app = seeded(store).await;
    let (status, v) = call(&app, "GET", "/api/prospects", None).await;
    assert_eq!(status, 200);
    assert_eq!(names(&v), vec!["Acme", "Beta"]);
    assert_eq!(v["truncated"], false);
    let row = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["name"] == "Acme")
        .expect("acme")
        .clone();
    assert_eq!(row["type"], "invoice");
    assert_eq!(row["phone"], "+3225111234");
    assert_eq!(row["tags"], json!(["vip"]));
    assert_eq!(row["opt_out"], false);
    assert!(row.get("code").is_none());
}

async fn scope_language_tags_search_and_paging_narrow_the_list(store: SharedStore) {
    let app = seeded(store).await;
    let (_, v) = call(&app, "GET", "/api/prospects?scope=delivery", None).await;
    assert_eq!(names(&v), vec!["Acme Depot"]);
    assert_eq!(v["items"][0]["code"], "delivery_1");
    assert_eq!(v["items"][0]["type"], "delivery");
    let (_, v) = call(&app, "GET", "/api/prospects?scope=both&lang=FR", None).await;
    assert_eq!(names(&v), vec!["Acme Depot", "Beta"]);
    let (_, v) = call(&app, "GET", "/api/prospects?scope=both&tags=DOCK", None).await;
    assert_eq!(names(&v), vec!["Acme Depot"]);
    // Phone-aware search: the national form finds the E.164 number.
    let (_, v) = call(
        &app,
        "GET",
        "/api/prospects?scope=both&q=0475%2012%2034%2056",
        None,
    )
    .await;
    assert_eq!(names(&v), vec!["Acme Depot"]);
    let (_, v) = call(&app, "GET", "/api/prospects?q=acme%20nv", None).await;
    assert_eq!(names(&v), vec!["Acme"]);
    let (_, v) = call(
        &app,
        "GET",
        "/api/prospects?paged=1&page=1&page_size=1",
        None,
    )
    .await;
    assert_eq!(v["items"].as_array().expect("items").len(), 1);
    assert_eq!(v["has_more"], true);
    assert_eq!(v["page"], 1);
    let (_, v) = call(
        &app,
        "GET",
        "/api/prospects?paged=1&page=2&page_size=1",
        None,
    )
    .await;
    assert_eq!(v["has_more"], false);
}

async fn bad_list_parameters_are_refused_naming_the_parameter(store: SharedStore) {
    let app = seeded(store).await;
    for (uri, field) in [
        ("/api/prospects?scope=everyone", "scope"),
        ("/api/prospects?lang_confirmed=2", "lang_confirmed"),
        ("/api/prospects?opt_out=yes", "opt_out"),
        ("/api/prospects?paged=1&page_size=9999", "page_size"),
        ("/api/prospects?paged=1&page=0", "page"),
        ("/api/prospects?lang=n%24l", "lang"),
        ("/api/prospects?sort=age", "sort"),
    ] {
        let (status, v) = call(&app, "GET", uri, None).await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(v["error"]["code"], "invalid_parameter", "{uri}");
        assert_eq!(v["error"]["field"], field, "{uri}");
    }
}

async fn an_opt_out_is_idempotent_validated_reversible_and_audited(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let uri = "/api/prospects/phone/%2B32475123456/opt-out";
    let (status, v) = call(
        &app,
        "PATCH",
        uri,
        Some(r#"{"opt_out":true,"reason":"asked on the phone"}"#),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({ "phone_e164": "+32475123456", "opt_out": true, "changed": true })
    );
    let (_, v) = call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32475123456/opt-out",
        Some(r#"{"opt_out":true}"#),
    )
    .await;
    assert_eq!(v["changed"], false, "already opted out");
    let (_, v) = call(&app, "GET", "/api/prospects?scope=both&opt_out=1", None).await;
    assert_eq!(names(&v), vec!["Acme Depot"]);

    let (status, v) = call(
        &app,
        "PATCH",
        "/api/prospects/phone/0475123456/opt-out",
        Some(r#"{"opt_out":true}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "phone_not_e164");
    assert_eq!(v["error"]["field"], "e164");
    let (status, v) = call(&app, "PATCH", uri, Some(r#"{"opt_out":"yes"}"#)).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_body");
    let long = format!(r#"{{"opt_out":true,"reason":"{}"}}"#, "x".repeat(501));
    let (status, v) = call(&app, "PATCH", uri, Some(&long)).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["field"], "reason");

    let (status, v) = call(&app, "PATCH", uri, Some(r#"{"opt_out":false}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(v["changed"], true);
    let (_, v) = call(&app, "GET", "/api/prospects?scope=both&opt_out=1", None).await;
    assert_eq!(names(&v), Vec::<String>::new());

    let (_, audit) = call(&app, "GET", "/api/audit?limit=10", None).await;
    let items = audit["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "every accepted change is audited: {audit}");
    assert!(items
        .iter()
        .all(|e| e["actor"] == "ops@acme" && e["target"] == "+32475123456"));
    assert_eq!(items[0]["action"], "dnc.remove");
    assert_eq!(items[2]["action"], "dnc.add");
    assert!(items[2]["detail"]
        .as_str()
        .expect("detail")
        .contains("asked on the phone"));
}

/// Two field definitions created (`region`, an enum with a default, and `account`,
/// with a regex) and listed in order; the `region` definition as created.
async fn two_field_definitions(app: &axum::Router) -> serde_json::Value {
    let base = "/api/prospects/field-defs";
    let (status, region) = call(app, "POST", base, Some(r#"{"key":"region","label":"Region","type":"enum","options":["north","south"],"default":"north","order":2}"#)).await;
    assert_eq!(status, 201, "{region}");
    assert_eq!(region["type"], "enum");
    assert_eq!(region["visibility"], "both");
    let (status, _) = call(
        app,
        "POST",
        base,
        Some(r#"{"key":"account","label":"Account","regex":"^ACC-\\d+$","order":1}"#),
    )
    .await;
    assert_eq!(status, 201);
    let (_, list) = call(app, "GET", base, None).await;
    let keys: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(keys, vec!["account", "region"]);
    region
}

async fn field_definitions_are_created_listed_and_refused_when_invalid(store: SharedStore) {
    let app = seeded(store).await;
    let base = "/api/prospects/field-defs";
    two_field_definitions(&app).await;
    let (status, v) = call(
        &app,
        "POST",
        base,
        Some(r#"{"key":"region","label":"Again"}"#),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(v["error"]["code"], "duplicate_key");
    assert_eq!(v["error"]["field"], "key");
    for (body, field) in [
        (r#"{"key":"Bad Key","label":"x"}"#, "key"),
        (r#"{"label":"no key"}"#, "key"),
        (r#"{"key":"k","label":"x","type":"colour"}"#, "type"),
        (r#"{"key":"k","label":"x","type":"enum"}"#, "options"),
        (r#"{"key":"k","label":"x","regex":"(unclosed"}"#, "regex"),
        (
            r#"{"key":"k","label":"x","type":"number","default":"ten"}"#,
            "default",
        ),
        (r#"{"key":"k","label":""}"#, "label"),
    ] {
        let (status, v) = call(&app, "POST", base, Some(body)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error"]["code"], "invalid_field_def", "{body}");
        assert_eq!(v["error"]["field"], field, "{body}");
    }
    let (status, v) = call(
        &app,
        "POST",
        base,
        Some(r#"{"key":"k","label":"x","colour":"red"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_body");
}

async fn a_field_definition_is_revalidated_whole_on_patch_and_deleted(store: SharedStore) {
    let app = seeded(store).await;
    let base = "/api/prospects/field-defs";
    let region = two_field_definitions(&app).await;
    let id = region["id"].as_str().expect("id");
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/{id}"),
        Some(r#"{"label":"Sales region"}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["label"], "Sales region");
    assert_eq!(v["options"], json!(["north", "south"]));
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/{id}"),
        Some(r#"{"key":"account"}"#),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(v["error"]["field"], "key");
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/{id}"),
        Some(r#"{"options":[]}"#),
    )
    .await;
    assert_eq!(status, 400, "the patched whole is revalidated");
    assert_eq!(v["error"]["field"], "options");
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("{base}/nope"),
        Some(r#"{"label":"x"}"#),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, v) = call(&app, "DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "not_found");
}

/// Acme's prospect id and its route.
async fn acme(app: &axum::Router) -> (String, String) {
    let (_, list) = call(app, "GET", "/api/prospects", None).await;
    let id_of = |name: &str| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["name"] == name)
            .expect("row")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let acme = id_of("Acme");
    let base = format!("/api/prospects/{acme}");
    (acme, base)
}

async fn one_prospect_reads_back_with_its_opted_out_phones(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (_, base) = acme(&app).await;
    let (status, v) = call(&app, "GET", &base, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["invoice"]["name"], "Acme");
    assert_eq!(v["opted_out_phones"], json!([]));
    assert_eq!(call(&app, "GET", "/api/prospects/nope", None).await.0, 404);
    call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32475123456/opt-out",
        Some(r#"{"opt_out":true}"#),
    )
    .await;
    let (_, v) = call(&app, "GET", &base, None).await;
    assert_eq!(v["opted_out_phones"], json!(["+32475123456"]));
}

async fn an_invoice_edit_checks_the_version_it_read_and_its_values(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (_, base) = acme(&app).await;
    let (_, v) = call(&app, "GET", &base, None).await;
    let version = v["version"].as_i64().expect("version");
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/invoice"),
        Some(r#"{"email":"billing@acme.be","phone":"02 511 12 35"}"#),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["invoice"]["phone"], "+3225111235");
    assert_eq!(v["invoice"]["email"], "billing@acme.be");
    assert_eq!(v["version"], version + 1);
    for (body, status, code, field) in [
        (
            r#"{"phone":"03 231 12 34"}"#,
            409,
            "duplicate_prospect",
            "phone",
        ),
        (r#"{"phone":"12"}"#, 400, "phone_invalid", "phone"),
        (r#"{"email":"not an email"}"#, 400, "invalid_email", "email"),
        (r#"{"tags":["x"]}"#, 400, "invalid_parameter", "tags"),
        (
            r#"{"custom":{"zzz":1}}"#,
            400,
            "unknown_field",
            "custom.zzz",
        ),
    ] {
        let (got, v) = call(&app, "PATCH", &format!("{base}/invoice"), Some(body)).await;
        assert_eq!(got, status, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}");
        assert_eq!(v["error"]["field"], field, "{body}");
    }
    let (_, v) = call(
        &app,
        "PATCH",
        &format!("{base}/invoice"),
        Some(r#"{"nickname":"x"}"#),
    )
    .await;
    assert_eq!(v["error"]["code"], "invalid_body");
    call(
        &app,
        "POST",
        "/api/prospects/field-defs",
        Some(r#"{"key":"credit","label":"Credit","type":"number"}"#),
    )
    .await;
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/invoice"),
        Some(r#"{"custom":{"credit":"lots"}}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["field"], "custom.credit");
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/invoice"),
        Some(r#"{"custom":{"credit":5000}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["invoice"]["custom"]["credit"], 5000);
}

async fn delivery_edits_are_validated(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (_, base) = acme(&app).await;
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/delivery/delivery_1"),
        Some(r#"{"tags":["Night"],"language":"NL","notes":"ring twice"}"#),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["delivery_addresses"][0]["tags"], json!(["night"]));
    assert_eq!(v["delivery_addresses"][0]["language"], "nl");
    let (_, found) = call(
        &app,
        "GET",
        "/api/prospects?scope=delivery&tags=night",
        None,
    )
    .await;
    assert_eq!(names(&found), vec!["Acme Depot"]);
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("{base}/delivery/delivery_9"),
        Some(r#"{"notes":"x"}"#),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["field"], "code");
}

async fn archiving_hides_a_prospect_and_unarchiving_shows_it(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (_, base) = acme(&app).await;
    let (status, v) = call(&app, "PATCH", &format!("{base}/archive"), None).await;
    assert_eq!(status, 200);
    assert_eq!(v["archived"], true);
    let (_, listed) = call(&app, "GET", "/api/prospects", None).await;
    assert_eq!(names(&listed), vec!["Beta"]);
    let (_, v) = call(&app, "PATCH", &format!("{base}/unarchive"), None).await;
    assert_eq!(v["archived"], false);
    let (_, v) = call(
        &app,
        "PATCH",
        &format!("{base}/archive"),
        Some(r#"{"archived":false}"#),
    )
    .await;
    assert_eq!(v["archived"], false);
}

async fn a_prospects_log_lists_its_calls_newest_first(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (acme, base) = acme(&app).await;
    for (i, started) in [1_000, 3_000, 2_000].into_iter().enumerate() {
        store
            .create_call(agent5_api::model::Call {
                status: agent5_api::model::CallStatus::Ended,
                customer_id: Some(acme.clone().into()),
                ..agent5_api::model::Call::new(
                    format!("call-{i}"),
                    agent5_api::model::Direction::Outbound,
                    "+3225111235".into(),
                    started,
                )
            })
            .await
            .expect("call");
    }
    let (status, v) = call(&app, "GET", &format!("{base}/logs"), None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, vec!["call-1", "call-2", "call-0"], "newest first");
    assert_eq!(v["items"][0]["started_at"], "1970-01-01T00:00:03.000000Z");
    assert!(v["items"][0].get("stream_token_hash").is_none());
    let (_, v) = call(&app, "GET", &format!("{base}/logs?page_size=2"), None).await;
    assert_eq!(v["has_more"], true);
    assert_eq!(
        call(&app, "GET", "/api/prospects/nope/logs", None).await.0,
        404
    );
}

common::on_both_stores!(
    the_list_shows_invoice_rows_with_phone_tags_and_opt_out,
    scope_language_tags_search_and_paging_narrow_the_list,
    bad_list_parameters_are_refused_naming_the_parameter,
    an_opt_out_is_idempotent_validated_reversible_and_audited,
    field_definitions_are_created_listed_and_refused_when_invalid,
    a_field_definition_is_revalidated_whole_on_patch_and_deleted,
    one_prospect_reads_back_with_its_opted_out_phones,
    an_invoice_edit_checks_the_version_it_read_and_its_values,
    delivery_edits_are_validated,
    archiving_hides_a_prospect_and_unarchiving_shows_it,
    a_prospects_log_lists_its_calls_newest_first,
);
