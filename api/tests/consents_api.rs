//! `/api/consents` and a campaign's stats and attempts through the real router, on
//! SQLite and (with `AGENT5_TEST_MONGO_URI`) on MongoDB: consent recorded with errors
//! naming the field, refused for an opted-out phone, listed, revoked once, revoked by
//! an opt-out, imported from CSV with per-line errors and exported again.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::router::{call, call_raw, seeded};

use agent5_api::store::SharedStore;
use serde_json::{json, Value};

/// The date `n` days before today (UTC), `YYYY-MM-DD`: consent is never in the future.
fn days_ago(n: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * n))
        .expect("date")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

fn consent(phone: &str) -> Value {
    json!({"phone": phone, "source": "web_form", "captured_at": format!("{}T10:00:00Z", days_ago(30)),
           "wording": "I agree to receive calls from an AI assistant.", "wording_version": "v2",
           "channel": "web", "evidence_ref": "form-77"})
}

async fn post(app: &axum::Router, uri: &str, body: &Value) -> (u16, Value) {
    call(app, "POST", uri, Some(&body.to_string())).await
}

async fn consent_is_recorded_checked_and_revoked(store: SharedStore) {
    let app = seeded(store).await;
    let (status, c) = post(&app, "/api/consents", &consent("0470 00 00 31")).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (c["phone"].as_str(), c["valid"].as_bool()),
        (Some("+32470000031"), Some(true))
    );
    assert_eq!(
        c["captured_at"],
        format!("{}T10:00:00.000000Z", days_ago(30))
    );

    // An opted-out phone cannot be recorded as consenting.
    let (status, _) = call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32470000033/opt-out",
        Some(r#"{"opt_out": true}"#),
    )
    .await;
    assert!(status == 200 || status == 201, "{status}");
    let (status, e) = post(&app, "/api/consents", &consent("+32470000033")).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("opted_out"))
    );

    // An opt-out after the consent revokes it.
    let (status, _) = call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32470000031/opt-out",
        Some(r#"{"opt_out": true, "reason": "stop"}"#),
    )
    .await;
    assert!(status == 200 || status == 201);
    let (_, c) = call(&app, "GET", "/api/consents/+32470000031", None).await;
    assert_eq!(c["valid"], false, "{c}");
    assert!(
        c["revoked_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("opted out")),
        "{c}"
    );

    // Revoked by hand, once.
    post(&app, "/api/consents", &consent("+32470000034")).await;
    let (status, c) = post(
        &app,
        "/api/consents/+32470000034/revoke",
        &json!({"reason": "by email"}),
    )
    .await;
    assert_eq!(
        (status, c["revoked_reason"].as_str()),
        (200, Some("by email"))
    );
    let (_, again) = post(&app, "/api/consents/+32470000034/revoke", &json!({})).await;
    assert_eq!(again["revoked_at"], c["revoked_at"]);
    let (status, _) = post(&app, "/api/consents/+32470000099/revoke", &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, "GET", "/api/consents/not-a-phone", None).await;
    assert_eq!(status, 400);
    let (_, audit) = call(&app, "GET", "/api/audit?action=consent.revoke", None).await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");
}

async fn consents_page_by_phone(store: SharedStore) {
    let app = seeded(store).await;
    for p in ["+32470000034", "+32470000031"] {
        post(&app, "/api/consents", &consent(p)).await;
    }
    let (_, page) = call(&app, "GET", "/api/consents?limit=1", None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_after"], "+32470000031");
    let (status, _) = call(&app, "GET", "/api/consents?limit=0", None).await;
    assert_eq!(status, 400);
}

async fn consent_errors_name_the_field(store: SharedStore) {
    let app = seeded(store).await;
    for (field, value) in [
        ("channel", json!("pigeon")),
        ("wording", json!("")),
        ("phone", json!("12")),
        ("captured_at", json!("yesterday")),
        ("captured_at", json!("2999-01-01T00:00:00Z")),
    ] {
        let mut body = consent("+32470000032");
        body[field] = value;
        let (status, e) = post(&app, "/api/consents", &body).await;
        assert_eq!(status, 400, "{field}: {e}");
        assert_eq!(e["error"]["code"], "invalid_consent");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
}

async fn consent_csv_imports_with_line_errors_and_exports_again(store: SharedStore) {
    let app = seeded(store).await;
    call(
        &app,
        "PATCH",
        "/api/prospects/phone/+32470000043/opt-out",
        Some(r#"{"opt_out": true}"#),
    )
    .await;
    let d = days_ago(10);
    let csv = format!(
        "channel,phone,source,captured_at,wording,wording_version,evidence_ref\n\
         web,+32470000041,web_form,{d},\"I agree, by AI\",v1,f-1\n\
         fax,+32470000042,web_form,{d},I agree,v1,f-2\n\
         paper,+32470000043,contract,{d},I agree,v1,c-3\n\
         paper,+32470000044,contract,{d},,v1,c-4\n"
    );
    let (status, r) = call(&app, "POST", "/api/consents/import", Some(&csv)).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            r["total"].as_u64(),
            r["recorded"].as_u64(),
            r["opted_out"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(4), Some(1), Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["errors"][0],
        json!({"row": 3, "field": "channel", "message": "channel must be one of web, paper, phone, sms, email, in_person, other"})
    );
    assert_eq!(r["errors"][1]["row"], 5);
    assert_eq!(r["errors"][1]["field"], "wording");
    let (status, e) = call(
        &app,
        "POST",
        "/api/consents/import",
        Some("phone,source\n+32470000041,x\n"),
    )
    .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("header")),
        "{e}"
    );

    let (status, _, body) = call_raw(&app, "/api/consents/export.csv").await;
    assert_eq!(status, 200);
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("phone,source,captured_at,wording,wording_version,channel,evidence_ref,revoked_at,revoked_reason,recorded_by")
    );
    let row = lines.next().expect("row");
    let expected =
        format!("+32470000041,web_form,{d}T00:00:00.000000Z,\"I agree, by AI\",v1,web,f-1,,,");
    assert!(row.starts_with(&expected), "{row}");
    assert_eq!(lines.next(), None);
}

async fn a_campaign_shows_its_stats_and_attempts(store: SharedStore) {
    let app = seeded(store).await;
    let (_, c) = post(&app, "/api/campaigns", &json!({"name": "Figures"})).await;
    let id = c["id"].as_str().expect("id");
    let (status, s) = call(&app, "GET", &format!("/api/campaigns/{id}/stats"), None).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["contacts"].as_u64(), s["dialed"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(s["abandon_rate_30d"], 0.0);
    assert_eq!(s["status"], "draft");
    let (status, a) = call(&app, "GET", &format!("/api/campaigns/{id}/attempts"), None).await;
    assert_eq!(
        (status, a["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, e) = call(
        &app,
        "GET",
        &format!("/api/campaigns/{id}/attempts?limit=9999"),
        None,
    )
    .await;
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("limit")));
    let (status, _, csv) = call_raw(&app, &format!("/api/campaigns/{id}/attempts.csv")).await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("attempt_id,phone_e164,customer_id,target,delivery_code,attempt_no,state,disposition,outcome,call_id,started_at,ended_at"));
    let (status, _) = call(&app, "GET", "/api/campaigns/nosuch/stats", None).await;
    assert_eq!(status, 404);
    let (status, e) = post(
        &app,
        "/api/campaigns",
        &json!({"name": "Bad outcomes", "dialer": {"outcomes": ["Interested!"]}}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("dialer.outcomes[0]"))
    );
}

common::on_both_stores!(
    consent_is_recorded_checked_and_revoked,
    consent_errors_name_the_field,
    consents_page_by_phone,
    consent_csv_imports_with_line_errors_and_exports_again,
    a_campaign_shows_its_stats_and_attempts,
);
