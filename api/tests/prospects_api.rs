//! `/api/prospects` list and opt-out through the real router, on SQLite and (with
//! `AGENT5_TEST_MONGO_URI`) on MongoDB.

mod common;

use common::{mongo, sqlite};

use std::sync::Arc;

use agent5_api::store::model::{Contact, Delivery, DncEntry, DncSource, NewCustomer};
use agent5_api::store::SharedStore;
use agent5_api::{router, AppState};
use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<&str>) -> (u16, Value) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-actor", "ops@acme");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("req");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn call_raw(app: &axum::Router, uri: &str) -> (u16, http::HeaderMap, String) {
    let req = http::Request::get(uri).body(Body::empty()).expect("req");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8(bytes.to_vec()).expect("utf8"),
    )
}

fn contact(name: &str, phone: &str, lang: &str) -> Contact {
    Contact {
        name: name.into(),
        company: format!("{name} NV"),
        phone: Some(phone.into()),
        language: lang.into(),
        ..Contact::default()
    }
}

async fn seeded(store: SharedStore) -> axum::Router {
    let mut acme = NewCustomer {
        invoice: contact("Acme", "+3225111234", "nl"),
        tags: vec!["vip".into()],
        ..NewCustomer::default()
    };
    acme.deliveries = vec![Delivery {
        code: "delivery_1".into(),
        contact: contact("Acme Depot", "+32475123456", "fr"),
        tags: vec!["dock".into()],
        notes: String::new(),
    }];
    let beta = NewCustomer {
        invoice: contact("Beta", "+3232311234", "fr"),
        ..NewCustomer::default()
    };
    store
        .upsert_customers(vec![acme, beta])
        .await
        .expect("seed");
    let bridge = agent5_bridge::Bridge::new(agent5_bridge::BridgeOptions::default());
    router(AppState::new(bridge, store))
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    n.sort();
    n
}

async fn list_filters_and_errors(store: SharedStore) {
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

    for (uri, field) in [
        ("/api/prospects?scope=everyone", "scope"),
        ("/api/prospects?lang_confirmed=2", "lang_confirmed"),
        ("/api/prospects?opt_out=yes", "opt_out"),
        ("/api/prospects?paged=1&page_size=9999", "page_size"),
        ("/api/prospects?paged=1&page=0", "page"),
        ("/api/prospects?lang=n%24l", "lang"),
    ] {
        let (status, v) = call(&app, "GET", uri, None).await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(v["error"]["code"], "invalid_parameter", "{uri}");
        assert_eq!(v["error"]["field"], field, "{uri}");
    }
}

async fn opt_out_route(store: SharedStore) {
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

async fn field_defs_routes(store: SharedStore) {
    let app = seeded(store).await;
    let base = "/api/prospects/field-defs";
    let (status, region) = call(&app, "POST", base, Some(r#"{"key":"region","label":"Region","type":"enum","options":["north","south"],"default":"north","order":2}"#)).await;
    assert_eq!(status, 201, "{region}");
    assert_eq!(region["type"], "enum");
    assert_eq!(region["visibility"], "both");
    let (status, _) = call(
        &app,
        "POST",
        base,
        Some(r#"{"key":"account","label":"Account","regex":"^ACC-\\d+$","order":1}"#),
    )
    .await;
    assert_eq!(status, 201);
    let (_, list) = call(&app, "GET", base, None).await;
    let keys: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(keys, vec!["account", "region"]);

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

async fn templates_and_dnc(store: SharedStore) {
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
        agent5_api::templates::PROSPECT_COLUMNS.join(",")
    );
    assert_eq!(text, expected);
    let (_, _, text) = call_raw(&app, "/api/prospects/deliveries_template.csv").await;
    let expected = format!(
        "{},custom_del_f,custom_both_f\r\n",
        agent5_api::templates::DELIVERY_COLUMNS.join(",")
    );
    assert_eq!(text, expected);

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

async fn one_prospect_routes(store: SharedStore) {
    let app = seeded(Arc::clone(&store)).await;
    let (_, list) = call(&app, "GET", "/api/prospects", None).await;
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

    for (i, started) in [1_000, 3_000, 2_000].into_iter().enumerate() {
        store
            .create_call(agent5_api::store::model::Call {
                status: "ended".into(),
                customer_id: Some(acme.clone()),
                ..agent5_api::store::model::Call::new(
                    format!("call-{i}"),
                    "outbound",
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
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"dnc.csv\"\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let req = http::Request::post("/api/dnc/import")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("x-actor", "ops@acme")
        .body(Body::from(body))
        .expect("req");
    let res = app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), 200);
    let v: Value =
        serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes())
            .expect("json");
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
    let body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\n{bad}\r\n--{boundary}--\r\n");
    let req = http::Request::post("/api/dnc/import")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("req");
    let res = app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), 400);
    let v: Value =
        serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes())
            .expect("json");
    assert_eq!(v["error"]["code"], "unknown_columns");
}

async fn upload(app: &axum::Router, uri: &str, file: &str) -> (u16, Value) {
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"f.csv\"\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let req = http::Request::post(uri)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("x-actor", "ops@acme")
        .body(Body::from(body))
        .expect("req");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
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

#[tokio::test]
async fn list_on_sqlite() {
    let (store, _dir) = sqlite().await;
    list_filters_and_errors(store).await;
}

#[tokio::test]
async fn opt_out_on_sqlite() {
    let (store, _dir) = sqlite().await;
    opt_out_route(store).await;
}

#[tokio::test]
async fn list_on_mongo() {
    if let Some(store) = mongo("list").await {
        list_filters_and_errors(store).await;
    }
}

#[tokio::test]
async fn opt_out_on_mongo() {
    if let Some(store) = mongo("optout").await {
        opt_out_route(store).await;
    }
}

#[tokio::test]
async fn field_defs_on_sqlite() {
    let (store, _dir) = sqlite().await;
    field_defs_routes(store).await;
}

#[tokio::test]
async fn field_defs_on_mongo() {
    if let Some(store) = mongo("defs").await {
        field_defs_routes(store).await;
    }
}

#[tokio::test]
async fn templates_and_dnc_on_sqlite() {
    let (store, _dir) = sqlite().await;
    templates_and_dnc(store).await;
}

#[tokio::test]
async fn templates_and_dnc_on_mongo() {
    if let Some(store) = mongo("dnc").await {
        templates_and_dnc(store).await;
    }
}

#[tokio::test]
async fn one_prospect_on_sqlite() {
    let (store, _dir) = sqlite().await;
    one_prospect_routes(store).await;
}

#[tokio::test]
async fn one_prospect_on_mongo() {
    if let Some(store) = mongo("one").await {
        one_prospect_routes(store).await;
    }
}

#[tokio::test]
async fn dnc_import_on_sqlite() {
    let (store, _dir) = sqlite().await;
    dnc_import_route(store).await;
}

#[tokio::test]
async fn dnc_import_on_mongo() {
    if let Some(store) = mongo("dncimport").await {
        dnc_import_route(store).await;
    }
}

#[tokio::test]
async fn deliveries_and_export_on_sqlite() {
    let (store, _dir) = sqlite().await;
    deliveries_and_export_routes(store).await;
}

#[tokio::test]
async fn deliveries_and_export_on_mongo() {
    if let Some(store) = mongo("deliveries_export").await {
        deliveries_and_export_routes(store).await;
    }
}
