//! Cases for sessions, API tokens, added roles and the audit log's filters.

use agent5_api::model::{ApiToken, AuditEntry, AuditQuery, Role, Session};
use agent5_api::store::{SharedStore, StoreError};

fn session(hash: &str, user: &str, at: i64) -> Session {
    Session {
        id_hash: hash.into(),
        user_id: user.into(),
        created_at: at,
        last_seen_at: at,
        client_ip: "192.0.2.1".into(),
        user_agent: "test".into(),
    }
}

pub async fn sessions_are_found_touched_and_ended(store: SharedStore) {
    for (hash, user) in [("h1", "u1"), ("h2", "u1"), ("h3", "u2")] {
        store
            .create_session(session(hash, user, 1_000))
            .await
            .expect("create");
    }
    assert_eq!(
        store.create_session(session("h1", "u9", 5)).await,
        Err(StoreError::Conflict {
            field: "id_hash".into()
        })
    );
    store.touch_session("h1", 5_000).await.expect("touch");
    store.touch_session("h1", 4_000).await.expect("never back");
    let h1 = store.get_session("h1").await.expect("get");
    assert_eq!((h1.user_id.as_str(), h1.last_seen_at), ("u1", 5_000));
    assert_eq!(store.get_session("nope").await, Err(StoreError::NotFound));

    assert_eq!(
        store.delete_user_sessions("u1", Some("h1")).await,
        Ok(1),
        "keeps h1"
    );
    assert_eq!(store.get_session("h2").await, Err(StoreError::NotFound));
    assert!(store.get_session("h1").await.is_ok());
    assert_eq!(store.delete_session("h1").await, Ok(true));
    assert_eq!(store.delete_session("h1").await, Ok(false));

    // Purge: idle since before 2_000, or created before 500.
    store
        .create_session(session("fresh", "u3", 3_000))
        .await
        .expect("create");
    assert_eq!(store.purge_sessions(2_000, 500).await, Ok(1), "h3 was idle");
    assert!(store.get_session("fresh").await.is_ok());
    assert_eq!(
        store.purge_sessions(0, 3_001).await,
        Ok(1),
        "fresh is too old"
    );
}

fn token(id: &str, user: &str, digest: &str, at: i64) -> ApiToken {
    ApiToken {
        id: id.into(),
        name: format!("token {id}"),
        user_id: user.into(),
        role: "operator".into(),
        prefix: "a5_abcdefgh".into(),
        digest: digest.into(),
        created_at: at,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

pub async fn tokens_are_found_by_digest_listed_and_revoked_once(store: SharedStore) {
    store
        .create_token(token("t1", "u1", "d1", 1_000))
        .await
        .expect("t1");
    store
        .create_token(token("t2", "u1", "d2", 2_000))
        .await
        .expect("t2");
    store
        .create_token(token("t3", "u2", "d3", 3_000))
        .await
        .expect("t3");
    assert_eq!(
        store.create_token(token("t4", "u2", "d3", 4_000)).await,
        Err(StoreError::Conflict {
            field: "digest".into()
        })
    );
    assert_eq!(
        store.find_token_by_digest("d2").await.expect("find").id,
        "t2"
    );
    assert_eq!(
        store.find_token_by_digest("zz").await,
        Err(StoreError::NotFound)
    );
    let mine: Vec<String> = store
        .list_tokens(Some("u1"))
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(mine, ["t2", "t1"], "newest first");
    assert_eq!(store.list_tokens(None).await.expect("all").len(), 3);

    store.touch_token("t1", 7_000).await.expect("touch");
    store.touch_token("t1", 6_000).await.expect("never back");
    assert_eq!(
        store.get_token("t1").await.expect("get").last_used_at,
        Some(7_000)
    );
    let revoked = store.revoke_token("t1", 8_000).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(8_000));
    let again = store.revoke_token("t1", 9_000).await.expect("again");
    assert_eq!(again.revoked_at, Some(8_000), "the first time stays");
    assert!(!again.is_live(10_000));
    assert_eq!(
        store.revoke_token("nope", 1).await,
        Err(StoreError::NotFound)
    );
}

pub async fn roles_are_unique_by_name(store: SharedStore) {
    let role = |name: &str| Role {
        name: name.into(),
        permissions: vec!["calls.view".into(), "monitor.listen".into()],
        created_at: 1_000,
    };
    store.create_role(role("listener")).await.expect("create");
    store.create_role(role("auditor")).await.expect("create");
    assert_eq!(
        store.create_role(role("listener")).await,
        Err(StoreError::Conflict {
            field: "name".into()
        })
    );
    let names: Vec<String> = store
        .list_roles()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["auditor", "listener"]);
    assert_eq!(store.list_roles().await.expect("list")[1], role("listener"));
    store.delete_role("auditor").await.expect("delete");
    assert_eq!(
        store.delete_role("auditor").await,
        Err(StoreError::NotFound)
    );
}

pub async fn the_audit_log_filters_by_actor_action_and_time_and_pages(store: SharedStore) {
    let entry = |at: i64, actor: &str, id: Option<&str>, action: &str| AuditEntry {
        at,
        actor: actor.into(),
        actor_id: id.map(str::to_owned),
        action: action.into(),
        target: format!("t{at}"),
        detail: String::new(),
        client_ip: Some("192.0.2.7".into()),
        request_id: Some(format!("r{at}")),
    };
    let entries = [
        entry(1_000, "ann@example.be", Some("u1"), "call.listen"),
        entry(2_000, "token:ci", Some("u1"), "call.place"),
        entry(3_000, "bob@example.be", Some("u2"), "call.listen"),
        entry(4_000, "env:AUTH_TOKEN", None, "dnc.add"),
        entry(5_000, "ann@example.be", Some("u1"), "dnc.add"),
    ];
    for e in &entries {
        store.append_audit(e.clone()).await.expect("append");
    }
    let query = |q: AuditQuery| {
        let store = store.clone();
        async move {
            store
                .list_audit(&AuditQuery {
                    limit: if q.limit == 0 { 100 } else { q.limit },
                    ..q
                })
                .await
                .expect("list")
        }
    };
    let ats = |page: &agent5_api::model::Page<AuditEntry>| -> Vec<i64> {
        page.items.iter().map(|e| e.at).collect()
    };
    let all = query(AuditQuery::default()).await;
    assert_eq!(ats(&all), [5_000, 4_000, 3_000, 2_000, 1_000]);
    assert_eq!(all.items[0], entries[4], "every field reads back");
    let by_user = query(AuditQuery {
        actor: Some("u1".into()),
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(
        ats(&by_user),
        [5_000, 2_000, 1_000],
        "by user id, tokens too"
    );
    let by_email = query(AuditQuery {
        actor: Some("ann@example.be".into()),
        action: Some("call.listen".into()),
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(ats(&by_email), [1_000]);
    let window = query(AuditQuery {
        since: Some(2_000),
        until: Some(4_000),
        ..AuditQuery::default()
    })
    .await;
    assert_eq!(
        ats(&window),
        [3_000, 2_000],
        "since inclusive, until exclusive"
    );
    let first = query(AuditQuery {
        limit: 2,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!((ats(&first), first.has_more), (vec![5_000, 4_000], true));
    let last = query(AuditQuery {
        offset: 4,
        limit: 2,
        ..AuditQuery::default()
    })
    .await;
    assert_eq!((ats(&last), last.has_more), (vec![1_000], false));
}
