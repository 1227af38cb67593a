//! Driving the real API router in-process: JSON calls, raw responses, multipart
//! uploads, and a store seeded with two customers (one with a delivery).
#![allow(dead_code)] // each test file uses its own part

use agent5_api::model::{Contact, Delivery, NewCustomer};
use agent5_api::store::SharedStore;
use agent5_api::{router, AppState};
use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The person the in-process requests act as (the edge would have put them there
/// after checking a session or a token).
pub fn ops() -> agent5_api::accounts::principal::Caller {
    let principal = std::sync::Arc::new(agent5_api::accounts::principal::Principal {
        user_id: Some("u-ops".into()),
        email: Some("ops@acme".into()),
        display_name: "Ops".into(),
        role: "admin".into(),
        permissions: agent5_api::accounts::permissions::Permissions::all(),
        via: agent5_api::accounts::principal::Via::Session {
            id_hash: "test".into(),
        },
    });
    agent5_api::accounts::principal::Caller {
        principal: Some(principal),
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: false,
    }
}

pub async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<&str>) -> (u16, Value) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .extension(ops());
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("req");
    json_reply(app, req).await
}

pub async fn call_raw(app: &axum::Router, uri: &str) -> (u16, http::HeaderMap, String) {
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

pub fn contact(name: &str, phone: &str, lang: &str) -> Contact {
    Contact {
        name: name.into(),
        company: format!("{name} NV"),
        phone: Some(phone.into()),
        language: lang.into(),
        ..Contact::default()
    }
}

pub async fn seeded(store: SharedStore) -> axum::Router {
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

pub fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    n.sort();
    n
}

pub async fn upload(app: &axum::Router, uri: &str, file: &str) -> (u16, Value) {
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"f.csv\"\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let req = http::Request::post(uri)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .extension(ops())
        .body(Body::from(body))
        .expect("req");
    json_reply(app, req).await
}

/// Sends `req` and reads the status and JSON body (`Null` when not JSON).
async fn json_reply(app: &axum::Router, req: http::Request<Body>) -> (u16, Value) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
