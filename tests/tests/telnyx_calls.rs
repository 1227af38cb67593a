//! The Telnyx calls end to end: the Call Control client against a fake Telnyx (dial
//! fields, idempotency, DNC at dial time, capacity, 5xx retries with one command_id,
//! 422/90018 hang-ups), events in any order giving one call state, inbound answering,
//! AMD, and no secret in any log line.

mod telnyx_rig;

use agent5_e2e::client::{self, body};
use agent5_e2e::fake_telnyx::{carrier_time, decode_client_state, now_millis};
use http::Request;
use serde_json::{json, Value};

use telnyx_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_refuses_national_numbers_and_sends_the_stream_fields() {
    let rig = rig("").await;
    let r = rig.dial("0475 12 34 56", json!({})).await;
    assert_eq!(
        r.status.as_u16(),
        400,
        "national form is refused: E.164 only"
    );
    assert_eq!(r.json()["error"]["field"], "to");

    let r = rig.dial("+32475123456", json!({"lang": "nl"})).await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    let call = r.json();
    let id = call["id"].as_str().expect("id").to_owned();
    assert_eq!(call["status"], "dialing");
    assert_eq!(call["call_control_id"], "v2:fake-1");
    let dials = rig.fake.requests_to("/v2/calls");
    assert_eq!(dials.len(), 1);
    let d = &dials[0];
    assert_eq!(
        d.authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(d.body["connection_id"], "conn-1");
    assert_eq!(d.body["from"], "+3225550000");
    assert_eq!(d.body["to"], "+32475123456");
    assert_eq!(
        d.body["stream_url"],
        format!("wss://agent5.test/websocket?call={id}")
    );
    assert_eq!(d.body["stream_track"], "inbound_track");
    assert_eq!(d.body["stream_bidirectional_mode"], "rtp");
    assert_eq!(d.body["stream_codec"], "PCMA");
    assert_eq!(d.body["stream_bidirectional_codec"], "PCMA");
    assert!(d.body["stream_auth_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 40));
    assert!(d.body["command_id"].as_str().is_some_and(|c| c.len() == 32));
    let state = d.body["client_state"]
        .as_str()
        .and_then(decode_client_state);
    assert_eq!(state, Some(format!("agent5:{id}")));
    assert!(
        !call
            .to_string()
            .contains(d.body["stream_auth_token"].as_str().unwrap_or("-")),
        "the token is not shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_any_order_duplicated_and_late_give_one_state_and_timeline() {
    let rig = rig("").await;
    let (a, b, base) = two_ended_calls(&rig).await;
    let at = |offset_ms: i64| carrier_time(base + offset_ms);
    assert_eq!(a["status"], "ended");
    assert_eq!(a["duration_secs"], 60.0);
    assert_eq!(a["hangup_cause"], "normal_clearing");
    assert_eq!(a["hangup_source"], "callee");
    assert_eq!(a["amd_result"], "human");
    let statuses = |v: &Value| -> Vec<String> {
        v["timeline"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|s| s["status"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        statuses(&a),
        vec!["dialing", "ringing", "answered", "streaming", "ended"]
    );
    // Each entry keeps the time its clock reported, and names the clock.
    let tl = &a["timeline"];
    assert_eq!(tl[0]["clock"], "appliance");
    assert_eq!(tl[1]["at"], at(1000));
    assert_eq!(tl[4]["at"], a["ended_at"]);
    assert!((1..5).all(|i| tl[i]["clock"] == "carrier"), "{tl}");
    for key in [
        "status",
        "answered_at",
        "ended_at",
        "duration_secs",
        "hangup_cause",
        "amd_result",
        "dtmf",
        "carrier_recording_urls",
        "quality",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(
        a["timeline"].as_array().map(|t| t[1..].to_vec()),
        b["timeline"].as_array().map(|t| t[1..].to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_list_filters_by_status_and_phone_and_refuses_bad_parameters() {
    let rig = rig("").await;
    two_ended_calls(&rig).await;
    let list = rig
        .api(
            "GET",
            "/api/calls?status=ended&phone=0475%2012%2034%2056",
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    let bad = rig
        .api("GET", "/api/calls?status=sleeping", None, &[])
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.json()["error"]["field"].as_str()),
        (400, Some("status"))
    );
    let bad = rig
        .api("GET", "/api/calls?direction=sideways", None, &[])
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.json()["error"]["field"].as_str()),
        (400, Some("direction"))
    );
    let outbound = rig
        .api(
            "GET",
            "/api/calls?direction=outbound&status=ended",
            None,
            &[],
        )
        .await
        .json();
    assert_eq!(outbound["items"].as_array().map(Vec::len), Some(2));
    let bad = rig.api("GET", "/api/calls?from=yesterday", None, &[]).await;
    assert_eq!(bad.json()["error"]["field"], "from");
}

/// The events of one call's life, `tag`-ged, on a carrier clock starting at `base`.
fn lifecycle(base: i64, call_id: &str, ccid: &str, tag: &str) -> Vec<String> {
    let at = |offset_ms: i64| carrier_time(base + offset_ms);
    let p = |extra: Value| {
        let mut base = json!({"call_control_id": ccid, "client_state": agent5_e2e::fake_telnyx::client_state(call_id), "direction": "outgoing", "from": "+3225550000", "to": "+32475123456"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    };
    vec![
        event(
            &format!("{tag}-1"),
            "call.initiated",
            &at(1000),
            p(json!({})),
        ),
        event(
            &format!("{tag}-2"),
            "call.answered",
            &at(5000),
            p(json!({})),
        ),
        event(
            &format!("{tag}-3"),
            "streaming.started",
            &at(5200),
            p(json!({})),
        ),
        event(
            &format!("{tag}-4"),
            "call.machine.detection.ended",
            &at(7000),
            p(json!({"result": "human"})),
        ),
        event(
            &format!("{tag}-5"),
            "call.dtmf.received",
            &at(9000),
            p(json!({"digit": "1"})),
        ),
        event(
            &format!("{tag}-6"),
            "call.dtmf.received",
            &at(10000),
            p(json!({"digit": "#"})),
        ),
        event(
            &format!("{tag}-7"),
            "streaming.stopped",
            &at(64000),
            p(json!({})),
        ),
        event(
            &format!("{tag}-8"),
            "call.hangup",
            &at(65000),
            p(
                json!({"hangup_cause": "normal_clearing", "hangup_source": "callee", "call_quality_stats": {"inbound": {"mos": "4.4"}}}),
            ),
        ),
        event(
            &format!("{tag}-9"),
            "call.recording.saved",
            &at(66000),
            p(json!({"recording_urls": {"mp3": "https://rec.example/1.mp3"}})),
        ),
    ]
}

/// Two dialled calls that ended: the first's events delivered in order, the second's
/// shuffled and partly twice, both on a carrier clock two days behind ours (a replay,
/// or a clock gone wrong). Both calls as the API shows them, and the carrier's base.
async fn two_ended_calls(rig: &Rig) -> (Value, Value, i64) {
    let base = now_millis() - 2 * 86_400_000;
    let first = rig.dial("+32475123456", json!({"lang": "nl"})).await.json();
    let id = first["id"].as_str().expect("id").to_owned();
    let second = rig.dial("+32475123456", json!({"lang": "nl"})).await.json();
    let id2 = second["id"].as_str().expect("id").to_owned();
    for e in lifecycle(base, &id, "v2:fake-1", "a") {
        assert_eq!(rig.event(&e).await.status, 200);
    }
    let mut shuffled = lifecycle(base, &id2, "v2:fake-2", "b");
    shuffled.reverse();
    shuffled.swap(1, 6);
    shuffled.swap(0, 4);
    for e in shuffled.iter().chain(shuffled.iter().take(3)) {
        assert_eq!(rig.event(e).await.status, 200);
    }
    let done = |v: &Value| {
        v["carrier_recording_urls"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            && v["dtmf"] == "1#"
            && v["status"] == "ended"
    };
    let a = rig.call_until(&id, done).await;
    let b = rig.call_until(&id2, done).await;
    (a, b, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_dials_place_one_call() {
    let rig = rig("").await;
    let sock = rig.app.unix_socket("http");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let sock = sock.clone();
            tokio::spawn(async move {
                let r = api_at(
                    &sock,
                    "POST",
                    "/api/calls",
                    Some(json!({"to": "+32475123456"})),
                    &[("idempotency-key", "campaign-7-row-12")],
                )
                .await;
                (
                    r.status.as_u16(),
                    r.json()["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    let ids: std::collections::BTreeSet<&String> = results.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 7);
    assert_eq!(
        rig.fake.requests_to("/v2/calls").len(),
        1,
        "one dial at the carrier"
    );
    // The key in the body means the same; a different header value is refused.
    let r = rig
        .api(
            "POST",
            "/api/calls",
            Some(json!({"to": "+32475123456", "idempotency_key": "campaign-7-row-12"})),
            &[("idempotency-key", "other")],
        )
        .await;
    assert_eq!(r.status.as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_after_the_upload_stops_the_dial() {
    let rig = rig("").await;
    let boundary = "b0undary";
    let csv = "invoice_contact_name,invoice_phone\r\nAcme,0475 12 34 56\r\n";
    let payload = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"p.csv\"\r\n\r\n{csv}\r\n--{boundary}--\r\n");
    let req = Request::post("/api/prospects/upload")
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body(payload))
        .expect("req");
    let up = client::send(client::unix(&rig.app.unix_socket("http")).await, req).await;
    assert_eq!(up.json()["created"], 1);
    let prospect = up.json()["imported_items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = rig
        .api(
            "PATCH",
            "/api/prospects/phone/+32475123456/opt-out",
            Some(json!({"opt_out": true, "reason": "asked on the phone"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = rig
        .dial("+32475123456", json!({"prospect_id": prospect}))
        .await;
    assert_eq!(r.status.as_u16(), 409);
    assert_eq!(r.json()["error"]["code"], "phone_opted_out");
    assert!(
        rig.fake.requests_to("/v2/calls").is_empty(),
        "nothing dialled"
    );
    let r = rig
        .dial("+32475999999", json!({"prospect_id": "nope"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (400, Some("unknown_prospect"))
    );
    let r = rig
        .dial("+32475999999", json!({"agent_profile": "nobody"}))
        .await;
    assert_eq!(r.json()["error"]["code"], "unknown_agent_profile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_errors_retries_and_hangups() {
    let rig = rig("max_concurrent_calls = 2\n").await;
    // A 503 is retried with the same command_id; Telnyx de-duplicates on it.
    rig.fake.script(
        "/v2/calls",
        503,
        json!({"errors": [{"code": "90001", "title": "Service unavailable"}]}),
    );
    let r = rig.dial("+32475000001", json!({})).await;
    assert_eq!(r.status.as_u16(), 201, "{:?}", r.body);
    let first = r.json();
    let dials = rig.fake.requests_to("/v2/calls");
    assert_eq!(dials.len(), 2);
    assert_eq!(dials[0].body["command_id"], dials[1].body["command_id"]);

    // A 422 is not retried: 502 with Telnyx's code, the call recorded as failed.
    rig.fake.script("/v2/calls", 422, json!({"errors": [{"code": "10016", "title": "Phone number must be in +E.164 format", "detail": "to"}]}));
    let r = rig.dial("+32475000002", json!({})).await;
    assert_eq!(r.status.as_u16(), 502);
    assert_eq!(r.json()["error"]["code"], "carrier_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("10016")));
    assert_eq!(rig.fake.requests_to("/v2/calls").len(), 3);
    let failed = rig
        .api("GET", "/api/calls?status=failed", None, &[])
        .await
        .json();
    assert_eq!(failed["items"][0]["phone"], "+32475000002");

    // Capacity: two live calls at most.
    let second = rig.dial("+32475000003", json!({})).await;
    assert_eq!(second.status.as_u16(), 201);
    let r = rig.dial("+32475000004", json!({})).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (429, Some("capacity"))
    );

    // Hanging up a call Telnyx says already ended (422/90018) is a success.
    let id = first["id"].as_str().expect("id");
    rig.fake.script(
        "/actions/hangup",
        422,
        json!({"errors": [{"code": "90018", "title": "Call has already ended"}]}),
    );
    let r = rig
        .api("POST", &format!("/api/calls/{id}/hangup"), None, &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["hangup_requested"], "api");
    assert_eq!(rig.fake.requests_to("/actions/hangup").len(), 1);
    // Its hang-up webhook frees a place.
    let ended = event(
        "h-1",
        "call.hangup",
        &carrier_time(now_millis()),
        json!({"call_control_id": first["call_control_id"], "hangup_cause": "originator_cancel"}),
    );
    assert_eq!(rig.event(&ended).await.status, 200);
    rig.call_until(id, |v| v["status"] == "no_answer").await;
    assert_eq!(
        rig.dial("+32475000004", json!({})).await.status.as_u16(),
        201
    );

    let log = rig.app.log_text();
    assert!(!log.contains(API_KEY), "the API key never reaches the log");
    for d in rig.fake.requests_to("/v2/calls") {
        if let Some(t) = d.body["stream_auth_token"].as_str() {
            assert!(!log.contains(t), "no stream token in the log");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_calls_are_answered_and_machines_hung_up() {
    let rig = rig("").await;
    let initiated = event(
        "in-1",
        "call.initiated",
        &carrier_time(now_millis()),
        json!({"call_control_id": "v2:inbound-1", "direction": "incoming", "from": "+32478111222", "to": "+3225550000", "state": "parked"}),
    );
    assert_eq!(rig.event(&initiated).await.status, 200);
    let answers = rig
        .fake
        .wait_for(1, |r| r.path == "/v2/calls/v2%3Ainbound%2D1/actions/answer")
        .await;
    let a = &answers[0].body;
    assert_eq!(a["stream_track"], "inbound_track");
    assert_eq!(a["stream_bidirectional_mode"], "rtp");
    assert_eq!(a["stream_codec"], "PCMA");
    let call_id = a["client_state"]
        .as_str()
        .and_then(decode_client_state)
        .and_then(|s| s.strip_prefix("agent5:").map(str::to_owned))
        .expect("our id");
    assert_eq!(
        a["stream_url"],
        format!("wss://agent5.test/websocket?call={call_id}")
    );
    let call = rig.call_until(&call_id, |v| v["status"] == "ringing").await;
    assert_eq!(
        (call["direction"].as_str(), call["phone"].as_str()),
        (Some("inbound"), Some("+32478111222"))
    );
    // The same initiated event replayed (new id) does not create a second call.
    let replay = initiated.replace("\"in-1\"", "\"in-1b\"");
    assert_eq!(rig.event(&replay).await.status, 200);

    // Outbound, answered by a machine: the policy hangs up.
    let out = rig.dial("+32475123456", json!({})).await.json();
    let ccid = out["call_control_id"].as_str().expect("ccid").to_owned();
    let amd = event(
        "amd-1",
        "call.machine.detection.ended",
        &carrier_time(now_millis() + 9000),
        json!({"call_control_id": ccid, "result": "machine"}),
    );
    assert_eq!(rig.event(&amd).await.status, 200);
    let suffix = format!(
        "/v2/calls/{}/actions/hangup",
        ccid.replace(':', "%3A").replace('-', "%2D")
    );
    rig.fake.wait_for(1, |r| r.path == suffix).await;
    let v = rig
        .call_until(out["id"].as_str().expect("id"), |v| {
            v["status"] == "machine"
        })
        .await;
    assert_eq!(v["amd_result"], "machine");
    let calls = rig
        .api("GET", "/api/calls?page_size=10", None, &[])
        .await
        .json();
    assert_eq!(
        calls["items"].as_array().map(Vec::len),
        Some(2),
        "one inbound, one outbound"
    );
}
