//! Operators who are people: a person's API token opens `/monitor` and
//! `/operator-bridge` as them (the `operator=` name cannot rename them), their role
//! decides what they may do, and the audit log names them.

mod call_rig;

use agent5_e2e::client;
use agent5_e2e::fake_realtime::Script;
use agent5_e2e::people::person_token;

use call_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_names_the_person_who_listened_and_who_took_over() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let rig = rig(Script::default(), "").await;
    let (id, _phone) = answered(&rig, true, 5).await;
    let sock = rig.sock();
    let connect = || client::unix(&sock);
    let ann = person_token(connect, TOKEN, "ann@example.be", "operator", "console").await;
    let sue = person_token(connect, TOKEN, "sue@example.be", "supervisor", "console").await;
    let open = |path: String, token: String| {
        let sock = rig.sock();
        async move {
            let mut req = format!("ws://agent5.test{path}")
                .into_client_request()
                .expect("req");
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header"),
            );
            tokio_tungstenite::client_async(req, client::unix(&sock).await).await
        }
    };
    // `operator=` cannot rename a person.
    let _listener = open(format!("/monitor?call={id}&operator=mallory"), ann.clone())
        .await
        .expect("ann listens");
    // An operator may listen but not take over.
    match open(format!("/operator-bridge?room={id}"), ann).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    let _operator = open(format!("/operator-bridge?room={id}"), sue)
        .await
        .expect("sue takes over");
    rig.agent
        .wait_event(0, |e| e["type"] == "response.cancel")
        .await;
    let live = rig.get("/api/calls/live", true).await.json();
    assert_eq!(live["items"][0]["controller"], "token:console");
    let audit = rig.get("/api/audit", true).await.json();
    assert!(
        audit["items"].as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["actor"] == "token:console" && e["action"] == "call.takeover")),
        "{audit}"
    );
    let entry = |action: &str| {
        audit["items"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["action"] == action).cloned())
            .unwrap_or_else(|| panic!("{action}: {audit}"))
    };
    for action in ["call.listen", "call.takeover"] {
        let e = entry(action);
        assert!(e["actor_id"].is_string(), "{e}");
        assert!(
            e["client_ip"].is_string() && e["request_id"].is_string(),
            "{e}"
        );
        assert_eq!(e["target"], id.as_str());
    }
    assert_ne!(
        entry("call.listen")["actor_id"],
        entry("call.takeover")["actor_id"]
    );
    assert_eq!(entry("call.place")["actor"], "env:AUTH_TOKEN");
}

/// A takeover is on record before it reaches the call: while another connection holds
/// the embedded store's write lock, the operator's socket opens but the agent is not
/// cancelled; once the lock goes, the audit entry is stored and the takeover follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_is_audited_before_the_agent_is_muted() {
    let rig = rig(Script::default(), "").await;
    let (id, _phone) = answered(&rig, true, 5).await;
    let db = store_writes_held(&rig);
    let sock = rig.sock();
    let operator = tokio::spawn(async move {
        client::websocket(
            &sock,
            &format!("/operator-bridge?room={id}&operator=bob"),
            Some(TOKEN),
        )
        .await
        .expect("operator")
    });
    let cancelled = || rig.agent.wait_event(0, |e| e["type"] == "response.cancel");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), cancelled())
            .await
            .is_err(),
        "the agent was muted before the takeover was on record"
    );
    db.execute_batch("ROLLBACK").expect("release");
    cancelled().await;
    let _operator = operator.await.expect("operator task");
    assert_audited(&rig, "call.takeover").await;
}

/// Listening in is on record before the listener hears anything: with the store's
/// writes held, the caller speaks and nothing reaches the listener; once they go, the
/// entry is stored and the call's audio follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_hears_nothing_before_the_listen_in_is_audited() {
    use futures_util::StreamExt;
    let rig = rig(Script::default(), "").await;
    let (id, mut phone) = answered(&rig, true, 5).await;
    let db = store_writes_held(&rig);
    let query = format!("/monitor?call={id}&operator=bob");
    let mut listener = client::websocket(&rig.sock(), &query, Some(TOKEN))
        .await
        .expect("monitor");
    let end = phone.talk(0x10, 15, 200, None).await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), listener.next())
            .await
            .is_err(),
        "the listener heard the call before the listen-in was on record"
    );
    db.execute_batch("ROLLBACK").expect("release");
    phone.talk(0x20, 10, end, None).await;
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), listener.next()).await;
    assert!(matches!(heard, Ok(Some(Ok(_)))), "{heard:?}");
    assert_audited(&rig, "call.listen").await;
}

/// The audit log holds an entry for `action`.
async fn assert_audited(rig: &Rig, action: &str) {
    let audit = rig.get("/api/audit", true).await.json();
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["action"] == action)),
        "{action}: {audit}"
    );
}

/// Holds the embedded store's write lock (WAL: one writer at a time) until the
/// returned connection rolls back or is dropped; reads go on.
fn store_writes_held(rig: &Rig) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(rig.app.dir().join("data/agent5.db")).expect("db");
    db.execute_batch("BEGIN IMMEDIATE").expect("the write lock");
    db
}
