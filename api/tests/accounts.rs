//! Sessions, tokens and sign-in through `Accounts` on the embedded store: expiry with
//! a clock moved by hand, revocation on the next request, the login budgets with
//! paused time, and an unknown email costing what a known one costs.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

#[allow(dead_code)] // the MongoDB half is for the conformance suite
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent5_api::accounts::permissions::Permission;
use agent5_api::accounts::principal::{RequestInfo, Via};
use agent5_api::accounts::{password, secret, Accounts, Denied, LoginError, SessionSettings};
use agent5_api::model::{new_id, ApiToken, User};
use agent5_api::store::SharedStore;

const PASSWORD: &str = "correct horse battery";
const HOUR: i64 = 3_600_000;

/// A clock the test moves.
#[derive(Clone)]
struct Hand(Arc<AtomicI64>);

impl Hand {
    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(1_800_000_000_000)))
    }
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

fn client(last: u8) -> RequestInfo {
    RequestInfo {
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
        request_id: format!("req-{last}"),
        tls: false,
    }
}

async fn setup() -> (Arc<Accounts>, SharedStore, Hand, tempfile::TempDir) {
    let (store, dir) = common::sqlite().await;
    let hand = Hand::new();
    let h = hand.clone();
    let accounts = Accounts::new(store.clone(), SessionSettings::default())
        .with_clock(Arc::new(move || h.now()));
    (Arc::new(accounts), store, hand, dir)
}

async fn add_user(store: &SharedStore, email: &str, role: &str) -> User {
    store
        .create_user(User {
            id: new_id(),
            email: email.into(),
            display_name: email.into(),
            role: role.into(),
            active: true,
            created_at: 0,
            last_login_at: None,
            password_hash: password::hash_off_thread(PASSWORD.into())
                .await
                .expect("hash"),
            version: 0,
        })
        .await
        .expect("user")
}

#[tokio::test]
async fn a_session_lives_until_idle_or_too_old_and_ends_at_logout() {
    let (accounts, store, hand, _dir) = setup().await;
    let ann = add_user(&store, "ann@example.be", "operator").await;
    let signed = accounts
        .login("ANN@example.be ", PASSWORD, &client(1), "test")
        .await
        .expect("login");
    assert_eq!(signed.user.id, ann.id);
    assert!(secret::is_session_id(&signed.cookie_value));
    let p = accounts
        .session(&signed.cookie_value)
        .await
        .expect("session");
    assert_eq!(p.email.as_deref(), Some("ann@example.be"));
    assert!(p.can(Permission::MonitorListen) && !p.can(Permission::MonitorTakeover));
    assert_eq!(
        store.get_user(&ann.id).await.expect("user").last_login_at,
        Some(hand.now())
    );

    // Used every 7 hours, it outlives the 8-hour idle limit, up to 7 days.
    for _ in 0..23 {
        hand.advance(7 * HOUR);
        accounts
            .session(&signed.cookie_value)
            .await
            .expect("still signed in");
    }
    hand.advance(7 * HOUR);
    assert_eq!(
        accounts.session(&signed.cookie_value).await,
        Err(Denied::Expired),
        "past 7 days"
    );

    // Idle: 8 hours without a request.
    let again = accounts
        .login("ann@example.be", PASSWORD, &client(1), "test")
        .await
        .expect("login");
    hand.advance(8 * HOUR);
    assert_eq!(
        accounts.session(&again.cookie_value).await,
        Err(Denied::Expired)
    );

    // Logout ends it at once, cache or not.
    let third = accounts
        .login("ann@example.be", PASSWORD, &client(1), "test")
        .await
        .expect("login");
    let p = accounts.session(&third.cookie_value).await.expect("ok");
    let Via::Session { id_hash } = &p.via else {
        panic!("a session principal")
    };
    accounts.logout(id_hash).await.expect("logout");
    assert_eq!(
        accounts.session(&third.cookie_value).await,
        Err(Denied::Unknown)
    );
    assert_eq!(
        accounts.session("not-a-session").await,
        Err(Denied::Unknown)
    );
}

#[tokio::test]
async fn disabling_a_user_or_resetting_sessions_ends_access_on_the_next_request() {
    let (accounts, store, _hand, _dir) = setup().await;
    let bob = add_user(&store, "bob@example.be", "supervisor").await;
    let a = accounts
        .login("bob@example.be", PASSWORD, &client(2), "a")
        .await
        .expect("login a");
    let b = accounts
        .login("bob@example.be", PASSWORD, &client(2), "b")
        .await
        .expect("login b");
    let keep = secret::digest(&a.cookie_value);
    assert_eq!(accounts.end_sessions(&bob.id, Some(&keep)).await, Ok(1));
    assert!(accounts.session(&a.cookie_value).await.is_ok());
    assert_eq!(
        accounts.session(&b.cookie_value).await,
        Err(Denied::Unknown)
    );

    let mut disabled = store.get_user(&bob.id).await.expect("bob");
    disabled.active = false;
    store.update_user(disabled).await.expect("disable");
    accounts.forget();
    assert_eq!(
        accounts.session(&a.cookie_value).await,
        Err(Denied::Disabled)
    );
    assert_eq!(
        accounts
            .login("bob@example.be", PASSWORD, &client(2), "c")
            .await
            .map(|_| ()),
        Err(LoginError::InvalidCredentials)
    );
}

#[tokio::test]
async fn a_token_acts_with_at_most_its_role_and_stops_when_revoked() {
    let (accounts, store, hand, _dir) = setup().await;
    let sup = add_user(&store, "sup@example.be", "supervisor").await;
    let raw = secret::new_token();
    let token = ApiToken {
        id: new_id(),
        name: "ci".into(),
        user_id: sup.id.clone(),
        role: "viewer".into(),
        prefix: raw.chars().take(secret::VISIBLE).collect(),
        digest: secret::digest(&raw),
        created_at: hand.now(),
        expires_at: Some(hand.now() + 48 * HOUR),
        last_used_at: None,
        revoked_at: None,
    };
    store.create_token(token.clone()).await.expect("token");
    let p = accounts.token(&raw).await.expect("token works");
    assert_eq!(p.label(), "token:ci");
    assert!(p.can(Permission::CallsView) && !p.can(Permission::MonitorListen));
    assert_eq!(
        store.get_token(&token.id).await.expect("t").last_used_at,
        Some(hand.now())
    );
    // A user demoted below the token's role takes the token down with them.
    let mut demoted = store.get_user(&sup.id).await.expect("sup");
    demoted.role = "nobody-role".into();
    store.update_user(demoted).await.expect("demote");
    accounts.forget();
    assert!(
        accounts
            .token(&raw)
            .await
            .expect("still a token")
            .permissions
            == Default::default()
    );

    store
        .revoke_token(&token.id, hand.now())
        .await
        .expect("revoke");
    accounts.forget();
    assert_eq!(accounts.token(&raw).await, Err(Denied::Expired));
    let mut wrong = raw.clone();
    wrong.pop();
    wrong.push(if raw.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(accounts.token(&wrong).await, Err(Denied::Unknown));
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_slow_down_then_lock_the_account_with_the_same_error() {
    let (accounts, store, _hand, _dir) = setup().await;
    add_user(&store, "eve@example.be", "viewer").await;
    let login = |password: &'static str| {
        let accounts = Arc::clone(&accounts);
        async move {
            let started = tokio::time::Instant::now();
            let r = accounts
                .login("eve@example.be", password, &client(9), "t")
                .await
                .map(|_| ());
            (r, started.elapsed())
        }
    };
    for _ in 0..5 {
        let (r, waited) = login("wrong password here").await;
        assert_eq!(r, Err(LoginError::InvalidCredentials));
        assert!(waited < Duration::from_secs(1), "free: {waited:?}");
    }
    let mut waits = Vec::new();
    for _ in 0..5 {
        let (r, waited) = login("wrong password here").await;
        assert_eq!(r, Err(LoginError::InvalidCredentials));
        waits.push(waited.as_secs());
    }
    assert_eq!(waits, [1, 2, 4, 8, 16], "a growing delay");
    // Locked: even the right password answers the same, later.
    let (r, waited) = login(PASSWORD).await;
    assert_eq!(r, Err(LoginError::InvalidCredentials));
    assert_eq!(waited.as_secs(), 30);
    assert_eq!(
        accounts
            .login_failures()
            .with_label_values(&["locked"])
            .get(),
        1
    );
    assert_eq!(
        accounts
            .login_failures()
            .with_label_values(&["bad_password"])
            .get(),
        10
    );
    // Every failure is in the audit log with the address, never the password.
    let audit = store
        .list_audit(&agent5_api::model::AuditQuery {
            action: Some("login.failure".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.items.len(), 11);
    assert!(audit
        .items
        .iter()
        .all(|e| e.client_ip.as_deref() == Some("192.0.2.9")
            && e.actor == "eve@example.be"
            && !e.detail.contains("password here")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_email_costs_what_a_known_one_costs() {
    let (accounts, store, _hand, _dir) = setup().await;
    add_user(&store, "kim@example.be", "viewer").await;
    // Each from its own address and account, so no budget slows one of them down.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4u8 {
        let t = Instant::now();
        let r = accounts
            .login("kim@example.be", "not the password", &client(20 + i), "t")
            .await;
        known.push(t.elapsed());
        assert!(matches!(r, Err(LoginError::InvalidCredentials)));
        let t = Instant::now();
        let r = accounts
            .login(
                &format!("nobody{i}@example.be"),
                "not the password",
                &client(40 + i),
                "t",
            )
            .await;
        unknown.push(t.elapsed());
        assert!(matches!(r, Err(LoginError::InvalidCredentials)));
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[1].as_secs_f64(), unknown[1].as_secs_f64());
    assert!(
        u > k * 0.5 && u < k * 2.0,
        "known {known:?} vs unknown {unknown:?}"
    );
}
