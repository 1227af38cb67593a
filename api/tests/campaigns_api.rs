//! `/api/campaigns` through the real router, on SQLite and (with
//! `AGENT5_TEST_MONGO_URI`) on MongoDB: drafts with every section checked and
//! defaulted, errors naming the field, the lifecycle's arrows, edits and deletes of
//! drafts only, and an audit entry per change naming the person.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod common;

use common::router::{call, seeded};

use agent5_api::model::{FieldDef, FieldKind};
use agent5_api::store::SharedStore;
use serde_json::{json, Value};

/// The local date `n` days from today (`YYYY-MM-DD`).
fn days_from_today(n: i64) -> String {
    jiff::Zoned::now()
        .date()
        .checked_add(jiff::ToSpan::days(n))
        .expect("date")
        .to_string()
}

async fn post(app: &axum::Router, uri: &str, body: Value) -> (u16, Value) {
    call(app, "POST", uri, Some(&body.to_string())).await
}

async fn a_draft_is_created_with_defaults_and_stored_as_checked(store: SharedStore) {
    let mut region = FieldDef::new("fd-1", "region", FieldKind::Enum);
    region.options = vec!["north".into(), "south".into()];
    store.create_field_def(region).await.expect("field def");
    let app = seeded(store).await;
    let (status, c) = post(&app, "/api/campaigns", json!({"name": "Spring invoices"})).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "draft");
    assert_eq!(c["audience"]["target"], "invoice");
    assert_eq!(c["dialer"]["max_concurrent"], 5);
    assert_eq!(c["dialer"]["max_attempts"], 3);
    assert_eq!(c["dialer"]["retry"]["voicemail"]["retry"], false);
    assert_eq!(c["schedule"]["windows"], json!([]));

    let (status, v) = post(&app, "/api/campaigns", json!({"name": "Spring invoices"})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("duplicate_name"))
    );

    // A full draft: stored as checked (tags normalised).
    let (status, c) = post(
        &app,
        "/api/campaigns",
        json!({"name": "North", "audience": {"target": "both", "include_tags": [" VIP "], "languages": ["NL"],
            "custom": [{"key": "region", "op": "in", "value": ["north"]}]},
            "schedule": {"timezone": "Europe/Brussels", "windows": [{"days": ["mon", "fri"], "start": "09:00", "end": "17:00"}],
                "blackout_dates": ["2026-12-25"]},
            "dialer": {"max_concurrent": 2, "requires_consent": true}}),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["audience"]["include_tags"], json!(["vip"]));
    assert_eq!(c["audience"]["languages"], json!(["nl"]));
    assert_eq!(c["dialer"]["requires_consent"], true);
    assert_eq!(c["dialer"]["calls_per_second"], 1.0);
    // The legal-hours override is allowed, and said in the audit log.
    let (status, _) = post(
        &app,
        "/api/campaigns",
        json!({"name": "Early", "schedule": {"allow_outside_legal_hours": true,
            "windows": [{"days": ["sat"], "start": "07:00", "end": "09:00"}]}}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, audit) = call(
        &app,
        "GET",
        "/api/audit?action=campaign.create&limit=10",
        None,
    )
    .await;
    assert_eq!(
        audit["items"][0]["detail"],
        "Early (allow_outside_legal_hours)"
    );
    let (_, list) = call(&app, "GET", "/api/campaigns", None).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Early", "North", "Spring invoices"]);
}

async fn bad_sections_are_refused_naming_the_field(store: SharedStore) {
    let mut region = FieldDef::new("fd-1", "region", FieldKind::Enum);
    region.options = vec!["north".into(), "south".into()];
    store.create_field_def(region).await.expect("field def");
    let app = seeded(store).await;
    for (body, field) in [
        (json!({}), "name"),
        (
            json!({"name": "x", "agent_profile": "Nobody"}),
            "agent_profile",
        ),
        (
            json!({"name": "x", "audience": {"target": "everyone"}}),
            "audience",
        ),
        (
            json!({"name": "x", "audience": {"languages": ["dutch"]}}),
            "audience.languages[0]",
        ),
        (
            json!({"name": "x", "audience": {"include_tags": ["vip"], "exclude_tags": ["VIP"]}}),
            "audience.exclude_tags",
        ),
        (
            json!({"name": "x", "audience": {"custom": [{"key": "nope", "op": "eq", "value": "a"}]}}),
            "audience.custom[0].key",
        ),
        (
            json!({"name": "x", "audience": {"custom": [{"key": "region", "op": "gt", "value": "north"}]}}),
            "audience.custom[0].op",
        ),
        (
            json!({"name": "x", "audience": {"custom": [{"key": "region", "op": "eq", "value": "west"}]}}),
            "audience.custom[0].value",
        ),
        (
            json!({"name": "x", "schedule": {"windows": [{"days": ["mon"], "start": "07:00", "end": "12:00"}]}}),
            "schedule.windows[0].start",
        ),
        (
            json!({"name": "x", "schedule": {"timezone": "Moon/Base"}}),
            "schedule.timezone",
        ),
        (
            json!({"name": "x", "dialer": {"max_concurrent": 0}}),
            "dialer.max_concurrent",
        ),
        (
            json!({"name": "x", "dialer": {"calls_per_second": 100.0}}),
            "dialer.calls_per_second",
        ),
        (
            json!({"name": "x", "dialer": {"retry": {"no_answer": {"retry": true, "after_minutes": 99999999}, "busy": {"retry": true}, "failed": {"retry": false}, "voicemail": {"retry": false}}}}),
            "dialer.retry.no_answer.after_minutes",
        ),
    ] {
        let (status, v) = post(&app, "/api/campaigns", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {v}");
        assert_eq!(v["error"]["field"], field, "{body} -> {v}");
    }
}

async fn the_lifecycle_is_audited_and_only_drafts_change(store: SharedStore) {
    let app = seeded(store).await;
    let (_, c) = post(&app, "/api/campaigns", json!({"name": "Lifecycle"})).await;
    let id = c["id"].as_str().expect("id").to_owned();
    let at = |action: &str| format!("/api/campaigns/{id}/{action}");
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("/api/campaigns/{id}"),
        Some(r#"{"description":"first run"}"#),
    )
    .await;
    assert_eq!(
        (status, v["description"].as_str()),
        (200, Some("first run"))
    );

    for (action, status, to) in [
        ("pause", 409, None),
        ("resume", 409, None),
        ("start", 200, Some("running")),
        ("start", 409, None),
        ("pause", 200, Some("paused")),
        ("resume", 200, Some("running")),
        ("stop", 200, Some("stopped")),
        ("resume", 409, None),
        ("stop", 409, None),
    ] {
        let (s, v) = post(&app, &at(action), json!({})).await;
        assert_eq!(s, status, "{action}: {v}");
        match to {
            Some(to) => assert_eq!(v["status"], to, "{action}"),
            None => assert_eq!(
                (v["error"]["code"].as_str(), v["error"]["field"].as_str()),
                (Some("invalid_transition"), Some("status"))
            ),
        }
    }
    // Not a draft any more: no edit, no delete.
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("/api/campaigns/{id}"),
        Some(r#"{"name":"Other"}"#),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_a_draft"))
    );
    let (status, _) = call(&app, "DELETE", &format!("/api/campaigns/{id}"), None).await;
    assert_eq!(status, 409);

    // A draft whose first date is ahead (400 days from today) is scheduled.
    let next_year = days_from_today(400);
    let (_, later) = post(
        &app,
        "/api/campaigns",
        json!({"name": "Later", "schedule": {"start_date": next_year}}),
    )
    .await;
    let later_id = later["id"].as_str().expect("id");
    let (_, v) = post(&app, &format!("/api/campaigns/{later_id}/start"), json!({})).await;
    assert_eq!(v["status"], "scheduled");

    let (_, draft) = post(&app, "/api/campaigns", json!({"name": "Scrap"})).await;
    let draft_id = draft["id"].as_str().expect("id");
    let (status, _) = call(&app, "DELETE", &format!("/api/campaigns/{draft_id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&app, "GET", &format!("/api/campaigns/{draft_id}"), None).await;
    assert_eq!(status, 404);

    let (_, audit) = call(
        &app,
        "GET",
        "/api/audit?action=campaign.start&limit=10",
        None,
    )
    .await;
    let entries = audit["items"].as_array().expect("items");
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[1]["actor"], "ops@acme");
    assert_eq!(entries[1]["detail"], "draft -> running");
    for action in [
        "campaign.create",
        "campaign.update",
        "campaign.pause",
        "campaign.resume",
        "campaign.stop",
        "campaign.delete",
    ] {
        let (_, a) = call(
            &app,
            "GET",
            &format!("/api/audit?action={action}&limit=10"),
            None,
        )
        .await;
        assert!(
            !a["items"].as_array().expect("items").is_empty(),
            "{action} audited"
        );
    }
}

async fn the_preview_counts_the_audience_without_opted_out_phones(store: SharedStore) {
    // Seeded: Acme (invoice +3225111234, vip, nl) with delivery Acme Depot (dock,
    // fr), and Beta (invoice, fr).
    store
        .add_dnc(vec![agent5_api::model::DncEntry {
            phone_e164: "+3232311234".into(),
            reason: "asked".into(),
            source: agent5_api::model::DncSource::Ui,
            added_by: "tester".into(),
            added_at: agent5_api::model::now_millis(),
        }])
        .await
        .expect("dnc");
    let app = seeded(store).await;
    let (_, everyone) = post(
        &app,
        "/api/campaigns",
        json!({"name": "All", "audience": {"target": "both"}}),
    )
    .await;
    let (status, p) = call(
        &app,
        "GET",
        &format!(
            "/api/campaigns/{}/preview",
            everyone["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["matching"].as_u64(), p["opted_out"].as_u64()),
        (Some(2), Some(1)),
        "{p}"
    );
    assert_eq!(p["complete"], true);
    assert_eq!(p["customers_read"], 2);
    let mut names: Vec<&str> = p["sample"]
        .as_array()
        .expect("sample")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Acme", "Acme Depot"]);

    let (_, french) = post(
        &app,
        "/api/campaigns",
        json!({"name": "French deliveries",
        "audience": {"target": "delivery", "languages": ["fr"], "include_tags": ["dock"]}}),
    )
    .await;
    let (_, p) = call(
        &app,
        "GET",
        &format!(
            "/api/campaigns/{}/preview",
            french["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    assert_eq!(p["matching"], 1, "{p}");
    assert_eq!(p["sample"][0]["code"], "delivery_1");
    assert_eq!(p["sample"][0]["phone"], "+32475123456");
    let (status, _) = call(&app, "GET", "/api/campaigns/nosuch/preview", None).await;
    assert_eq!(status, 404);
}

common::on_both_stores!(
    the_preview_counts_the_audience_without_opted_out_phones,
    a_draft_is_created_with_defaults_and_stored_as_checked,
    bad_sections_are_refused_naming_the_field,
    the_lifecycle_is_audited_and_only_drafts_change,
);
