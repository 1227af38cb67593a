//! Operator accounts end to end on the real `agent5` process: signing in over plain
//! HTTP and over TLS, the cookie's flags, Origin checks for cookie-authenticated
//! changes and WebSocket upgrades, per-person tokens shown once and refused after
//! revocation, admins ending sessions, an audit log that names people, and no secret
//! in any log line.

use agent5_e2e::certs::TestCa;
use agent5_e2e::client::{self, body, empty, Reply};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ENV_TOKEN: &str = "env-token-aaaaaaaaaaaa";
const PASSWORD: &str = "correct horse battery";
const HOST: &str = "agent5.test";
const ORIGIN: &str = "http://agent5.test";

fn config(extra: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
[metrics]
listen = ""
[auth]
tokens = ["{ENV_TOKEN}"]
[dev]
websocket_echo = true
{extra}
"#
    )
}

fn start() -> Appliance {
    Appliance::start(Spec::new(agent5_bin!(), config("")))
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum As<'a> {
    Nobody,
    Bearer(&'a str),
    /// The session cookie, with this `Origin` (or none).
    Cookie(&'a str, Option<&'a str>),
}

async fn send(
    app: &Appliance,
    method: &str,
    path: &str,
    who: As<'_>,
    json: Option<Value>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .header("user-agent", "accounts-test");
    match who {
        As::Nobody => {}
        As::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
        As::Cookie(value, origin) => {
            req = req.header("cookie", format!("other=1; agent5_session={value}"));
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
        }
    }
    let payload = match json {
        Some(v) => {
            req = req.header("content-type", "application/json");
            body(v.to_string())
        }
        None => empty(),
    };
    client::send(
        client::tcp(app.addr("http")).await,
        req.body(payload).expect("req"),
    )
    .await
}

async fn add_user(app: &Appliance, email: &str, role: &str) -> String {
    let res = send(
        app,
        "POST",
        "/api/users",
        As::Bearer(ENV_TOKEN),
        Some(json!({ "email": email, "role": role, "password": PASSWORD })),
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.json()["id"].as_str().expect("id").to_owned()
}

/// Signs in from this appliance's own page; returns the session cookie's value and the
/// whole `Set-Cookie`.
async fn sign_in(app: &Appliance, email: &str) -> (String, String) {
    let res = send(
        app,
        "POST",
        "/api/auth/login",
        As::Cookie("", Some(ORIGIN)),
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let set = res.header("set-cookie").expect("set-cookie").to_owned();
    let value = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("cookie value");
    (value, set)
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it() {
    let app = start();
    add_user(&app, "ann@example.be", "operator").await;
    let (cookie, set) = sign_in(&app, "Ann@Example.be").await;
    assert!(set.starts_with("agent5_session="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");

    let me = send(&app, "GET", "/api/auth/me", As::Cookie(&cookie, None), None).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["user"]["email"], "ann@example.be");
    assert_eq!(me["role"], "operator");
    assert_eq!(me["via"], "session");
    assert!(me["permissions"]
        .as_array()
        .expect("list")
        .contains(&json!("monitor.listen")));

    // The wrong password and an unknown email answer alike.
    for (email, password) in [
        ("ann@example.be", "wrong wrong wrong"),
        ("nobody@example.be", PASSWORD),
    ] {
        let res = send(
            &app,
            "POST",
            "/api/auth/login",
            As::Nobody,
            Some(json!({ "email": email, "password": password })),
        )
        .await;
        assert_eq!(res.status, 401);
        assert_eq!(res.json()["error"]["code"], "invalid_credentials");
    }

    let out = send(
        &app,
        "POST",
        "/api/auth/logout",
        As::Cookie(&cookie, Some(ORIGIN)),
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert!(out
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    let me = send(&app, "GET", "/api/auth/me", As::Cookie(&cookie, None), None).await;
    assert_eq!(me.status, 401);
}

#[tokio::test]
async fn over_tls_the_cookie_is_host_prefixed_and_secure() {
    let ca = TestCa::new();
    let leaf = ca.leaf_pem(&[HOST]);
    let app = Appliance::start(
        Spec::new(
            agent5_bin!(),
            format!(
                "[server]\nlisten = []\n[tls]\nlisten = [\"127.0.0.1:0\"]\n\
                 [[tls.certificates]]\ncert = \"certs/a.crt\"\nkey = \"certs/a.key\"\n\
                 [metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{ENV_TOKEN}\"]\n"
            ),
        )
        .file("certs/a.crt", leaf.chain.clone())
        .file("certs/a.key", leaf.key.clone()),
    );
    let tls_send = |req: Request<http_body_util::Full<bytes::Bytes>>| {
        let config = ca.client_config(&[b"http/1.1"], &[&rustls::version::TLS13]);
        let addr = app.addr("https");
        async move {
            let stream = client::tls(addr, config, HOST).await.expect("tls");
            client::send(stream, req).await
        }
    };
    let res = tls_send(
        Request::post("/api/users")
            .header("host", HOST)
            .header("authorization", format!("Bearer {ENV_TOKEN}"))
            .header("content-type", "application/json")
            .body(body(
                json!({"email": "tls@example.be", "role": "viewer", "password": PASSWORD})
                    .to_string(),
            ))
            .expect("req"),
    )
    .await;
    assert_eq!(res.status, 201);
    let res = tls_send(
        Request::post("/api/auth/login")
            .header("host", HOST)
            .header("origin", format!("https://{HOST}"))
            .header("content-type", "application/json")
            .body(body(
                json!({"email": "tls@example.be", "password": PASSWORD}).to_string(),
            ))
            .expect("req"),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let set = res.header("set-cookie").expect("cookie");
    assert!(set.starts_with("__Host-agent5_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"));
    let value = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("value");
    let me = tls_send(
        Request::get("/api/auth/me")
            .header("host", HOST)
            .header("cookie", format!("__Host-agent5_session={value}"))
            .body(empty())
            .expect("req"),
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"]["email"], "tls@example.be");
}

#[tokio::test]
async fn cookie_changes_and_upgrades_need_this_appliances_origin() {
    let app = start();
    add_user(&app, "sup@example.be", "supervisor").await;
    let (cookie, _) = sign_in(&app, "sup@example.be").await;
    let token_body = || Some(json!({ "name": "laptop" }));
    for origin in [
        None,
        Some("http://evil.example"),
        Some("https://agent5.test"),
    ] {
        let res = send(
            &app,
            "POST",
            "/api/tokens",
            As::Cookie(&cookie, origin),
            token_body(),
        )
        .await;
        assert_eq!(res.status, 403, "{origin:?}");
        assert_eq!(res.json()["error"]["code"], "csrf_origin_mismatch");
    }
    // Reading needs no Origin; a change from the appliance's own page is accepted.
    let list = send(&app, "GET", "/api/tokens", As::Cookie(&cookie, None), None).await;
    assert_eq!(list.status, 200);
    let created = send(
        &app,
        "POST",
        "/api/tokens",
        As::Cookie(&cookie, Some(ORIGIN)),
        token_body(),
    )
    .await;
    assert_eq!(created.status, 201);
    // A bearer token needs no Origin at all.
    let token = created.json()["token"].as_str().expect("token").to_owned();
    let by_bearer = send(
        &app,
        "POST",
        "/api/tokens",
        As::Bearer(&token),
        token_body(),
    )
    .await;
    assert_eq!(by_bearer.status, 201, "{:?}", by_bearer.body);
    // Signing in from another site is refused too.
    let res = send(
        &app,
        "POST",
        "/api/auth/login",
        As::Cookie("", Some("http://evil.example")),
        Some(json!({ "email": "sup@example.be", "password": PASSWORD })),
    )
    .await;
    assert_eq!(res.status, 403);

    // A WebSocket upgrade with the cookie: only from this appliance's origin.
    let upgrade = |origin: &'static str| {
        let cookie = cookie.clone();
        let addr = app.addr("http");
        async move {
            let mut req = format!("ws://{HOST}/monitor?call=c1")
                .into_client_request()
                .expect("req");
            let h = req.headers_mut();
            h.insert(
                "cookie",
                format!("agent5_session={cookie}").parse().expect("v"),
            );
            h.insert("origin", origin.parse().expect("v"));
            let stream = tokio::net::TcpStream::connect(addr).await.expect("tcp");
            tokio_tungstenite::client_async(req, stream).await
        }
    };
    match upgrade("http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403);
            let body = res.body().as_deref().unwrap_or_default();
            assert!(
                String::from_utf8_lossy(body).contains("csrf_origin_mismatch"),
                "{body:?}"
            );
        }
        other => panic!("expected a 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    let (_ws, res) = upgrade(ORIGIN).await.expect("same origin upgrades");
    assert_eq!(res.status(), 101);
}

#[tokio::test]
async fn a_token_is_shown_once_used_as_its_person_and_refused_once_revoked() {
    let app = start();
    add_user(&app, "op@example.be", "operator").await;
    let (cookie, _) = sign_in(&app, "op@example.be").await;
    let create = |json: Value| {
        send(
            &app,
            "POST",
            "/api/tokens",
            As::Cookie(&cookie, Some(ORIGIN)),
            Some(json),
        )
    };
    let too_high = create(json!({ "name": "x", "role": "admin" })).await;
    assert_eq!(too_high.status, 403);
    assert_eq!(too_high.json()["error"]["code"], "role_too_high");
    let bad = create(json!({ "name": "", "expires_in_days": 0 })).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["field"], "name");

    let created = create(json!({ "name": "ci", "role": "viewer", "expires_in_days": 30 })).await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let secret = created["token"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("a5_") && secret.len() == 46, "{secret}");
    assert!(!secret.contains(['/', '+', '=']));
    assert_eq!(created["prefix"], secret[..11]);
    let id = created["id"].as_str().expect("id").to_owned();

    let list = send(&app, "GET", "/api/tokens", As::Cookie(&cookie, None), None).await;
    let text = String::from_utf8_lossy(&list.body).into_owned();
    assert!(!text.contains(&secret), "the secret is never listed");
    assert!(!text.contains("digest"));
    assert_eq!(list.json()[0]["name"], "ci");

    let me = send(&app, "GET", "/api/auth/me", As::Bearer(&secret), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["via"], "token");
    assert_eq!(me.json()["role"], "viewer");
    // Viewer: no DNC export, even though the person could.
    let export = send(
        &app,
        "GET",
        "/api/dnc/export.csv",
        As::Bearer(&secret),
        None,
    )
    .await;
    assert_eq!(export.status, 403);
    assert_eq!(export.json()["error"]["code"], "forbidden");
    // It also works as a WebSocket subprotocol value.
    let mut req = format!("ws://{HOST}/monitor?call=c1")
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer.{secret}").parse().expect("v"),
    );
    let stream = tokio::net::TcpStream::connect(app.addr("http"))
        .await
        .expect("tcp");
    match tokio_tungstenite::client_async(req, stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403, "a viewer may not listen")
        }
        other => panic!("expected 403, got {:?}", other.map(|(_, r)| r.status())),
    }

    let revoked = send(
        &app,
        "DELETE",
        &format!("/api/tokens/{id}"),
        As::Cookie(&cookie, Some(ORIGIN)),
        None,
    )
    .await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.json()["revoked_at"].is_i64());
    let me = send(&app, "GET", "/api/auth/me", As::Bearer(&secret), None).await;
    assert_eq!(me.status, 401, "refused on the very next request");
}

#[tokio::test]
async fn admins_disable_and_reset_and_the_last_admin_stays() {
    let app = start();
    let admin_id = add_user(&app, "root@example.be", "admin").await;
    let op_id = add_user(&app, "op@example.be", "operator").await;
    let (admin, _) = sign_in(&app, "root@example.be").await;
    let (op_a, _) = sign_in(&app, "op@example.be").await;
    let (op_b, _) = sign_in(&app, "op@example.be").await;
    let admin_as = As::Cookie(&admin, Some(ORIGIN));

    // The operator changes their own password: their other session ends.
    let changed = send(
        &app,
        "POST",
        "/api/auth/password",
        As::Cookie(&op_a, Some(ORIGIN)),
        Some(json!({ "current_password": PASSWORD, "new_password": "a much better passphrase" })),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.json()["sessions_ended"], 1);
    let me = |c: &str| {
        let c = c.to_owned();
        let app = &app;
        async move {
            send(app, "GET", "/api/auth/me", As::Cookie(&c, None), None)
                .await
                .status
        }
    };
    assert_eq!(me(&op_a).await, 200);
    assert_eq!(me(&op_b).await, 401);
    let weak = send(
        &app,
        "POST",
        "/api/auth/password",
        As::Cookie(&op_a, Some(ORIGIN)),
        Some(json!({ "current_password": "a much better passphrase", "new_password": "password1234" })),
    )
    .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.json()["error"]["code"], "password_too_common");

    // An admin disables the operator: every session ends at once.
    let disabled = send(
        &app,
        "PATCH",
        &format!("/api/users/{op_id}"),
        admin_as,
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(me(&op_a).await, 401);
    // The last admin can be neither disabled nor demoted.
    for patch in [json!({ "active": false }), json!({ "role": "viewer" })] {
        let res = send(
            &app,
            "PATCH",
            &format!("/api/users/{admin_id}"),
            admin_as,
            Some(patch),
        )
        .await;
        assert_eq!(res.status, 409);
        assert_eq!(res.json()["error"]["code"], "last_admin");
    }
    // A reset ends the sessions too.
    let reset = send(
        &app,
        "POST",
        &format!("/api/users/{admin_id}/password"),
        admin_as,
        Some(json!({ "password": "another long passphrase" })),
    )
    .await;
    assert_eq!(reset.status, 200);
    assert_eq!(me(&admin).await, 401);
    // A taken email and a bad role are named.
    let dup = send(
        &app,
        "POST",
        "/api/users",
        As::Bearer(ENV_TOKEN),
        Some(json!({ "email": "OP@example.be", "role": "viewer", "password": PASSWORD })),
    )
    .await;
    assert_eq!(
        (dup.status.as_u16(), dup.json()["error"]["code"].clone()),
        (409, json!("email_taken"))
    );
    let role = send(
        &app,
        "POST",
        "/api/users",
        As::Bearer(ENV_TOKEN),
        Some(json!({ "email": "x@example.be", "role": "root", "password": PASSWORD })),
    )
    .await;
    assert_eq!(role.status, 400);
    assert_eq!(role.json()["error"]["field"], "role");
}

#[tokio::test]
async fn added_roles_grant_exactly_their_permissions() {
    let app = start();
    let res = send(
        &app,
        "POST",
        "/api/roles",
        As::Bearer(ENV_TOKEN),
        Some(json!({ "name": "auditor", "permissions": ["audit.view", "calls.view"] })),
    )
    .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let unknown = send(
        &app,
        "POST",
        "/api/roles",
        As::Bearer(ENV_TOKEN),
        Some(json!({ "name": "x", "permissions": ["users.delete"] })),
    )
    .await;
    assert_eq!(unknown.json()["error"]["code"], "unknown_permission");
    add_user(&app, "aud@example.be", "auditor").await;
    let (cookie, _) = sign_in(&app, "aud@example.be").await;
    let who = As::Cookie(&cookie, None);
    assert_eq!(send(&app, "GET", "/api/audit", who, None).await.status, 200);
    assert_eq!(send(&app, "GET", "/api/calls", who, None).await.status, 200);
    assert_eq!(
        send(&app, "GET", "/api/prospects", who, None).await.status,
        403
    );
    let in_use = send(
        &app,
        "DELETE",
        "/api/roles/auditor",
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await;
    assert_eq!(in_use.status, 409);
    let builtin = send(
        &app,
        "DELETE",
        "/api/roles/admin",
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await;
    assert_eq!(builtin.status, 400);
}

/// Ann signs in, fails once, opts a number out and exports the DNC list from her
/// browser, then puts it back with a token and signs out: her cookie value, the
/// token and the opt-out's request id.
async fn ann_works(app: &Appliance) -> (String, String, String) {
    add_user(app, "ann@example.be", "supervisor").await;
    let (cookie, _) = sign_in(app, "ann@example.be").await;
    let ann = As::Cookie(&cookie, Some(ORIGIN));
    let failed = send(
        app,
        "POST",
        "/api/auth/login",
        As::Nobody,
        Some(json!({ "email": "ann@example.be", "password": "not it at all" })),
    )
    .await;
    assert_eq!(failed.status, 401);
    let opt_out = send(
        app,
        "PATCH",
        "/api/prospects/phone/+32475123456/opt-out",
        ann,
        Some(json!({ "opt_out": true, "reason": "asked" })),
    )
    .await;
    assert_eq!(opt_out.status, 200, "{:?}", opt_out.body);
    let request_id = opt_out.header("x-request-id").expect("id").to_owned();
    let export = send(
        app,
        "GET",
        "/api/dnc/export.csv",
        As::Cookie(&cookie, None),
        None,
    )
    .await;
    assert_eq!(export.status, 200);
    let export = send(
        app,
        "GET",
        "/api/prospects/export.csv",
        As::Cookie(&cookie, None),
        None,
    )
    .await;
    assert_eq!(export.status, 200);
    let csv = "invoice_contact_name,invoice_company,invoice_phone\nAnn,Acme,+32475000001\n";
    let multipart = format!(
        "--b0\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"p.csv\"\r\n\r\n{csv}\r\n--b0--\r\n"
    );
    let upload = client::send(
        client::tcp(app.addr("http")).await,
        Request::post("/api/prospects/upload")
            .header("host", HOST)
            .header("origin", ORIGIN)
            .header("cookie", format!("agent5_session={cookie}"))
            .header("content-type", "multipart/form-data; boundary=b0")
            .body(body(multipart))
            .expect("req"),
    )
    .await;
    assert_eq!(upload.status, 200, "{:?}", upload.body);
    assert_eq!(upload.json()["created"], 1);
    let created = send(
        app,
        "POST",
        "/api/tokens",
        ann,
        Some(json!({ "name": "ci" })),
    )
    .await;
    let token = created.json()["token"].as_str().expect("t").to_owned();
    let by_token = send(
        app,
        "PATCH",
        "/api/prospects/phone/+32475123456/opt-out",
        As::Bearer(&token),
        Some(json!({ "opt_out": false })),
    )
    .await;
    assert_eq!(by_token.status, 200);
    let out = send(app, "POST", "/api/auth/logout", ann, None).await;
    assert_eq!(out.status, 204);
    (cookie, token, request_id)
}

#[tokio::test]
async fn the_audit_names_the_person_the_address_and_the_request() {
    let app = start();
    let (cookie, token, request_id) = ann_works(&app).await;
    let audit = send(
        &app,
        "GET",
        "/api/audit?page_size=100",
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await
    .json();
    let items = audit["items"].as_array().expect("items");
    let find = |action: &str| {
        items
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {audit}"))
    };
    for action in [
        "login.success",
        "login.failure",
        "dnc.add",
        "export.dnc",
        "export.prospects",
        "import.prospects",
        "token.create",
        "logout",
    ] {
        let e = find(action);
        assert_eq!(e["actor"], "ann@example.be", "{action}: {e}");
        assert_eq!(e["client_ip"], "127.0.0.1", "{action}");
        assert!(
            e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{action}"
        );
        if action != "login.failure" || e["actor_id"].is_string() {
            assert!(e["actor_id"].is_string(), "{action}");
        }
    }
    assert_eq!(find("dnc.add")["request_id"], request_id.as_str());
    let removed = find("dnc.remove");
    assert_eq!(removed["actor"], "token:ci");
    assert_eq!(removed["actor_id"], find("dnc.add")["actor_id"]);
    assert!(items
        .iter()
        .any(|e| e["action"] == "user.create" && e["actor"] == "env:AUTH_TOKEN"));

    // Filters and the CSV export.
    let ann_id = find("logout")["actor_id"].as_str().expect("id").to_owned();
    let by_person = send(
        &app,
        "GET",
        &format!("/api/audit?actor={ann_id}&action=dnc.add"),
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await
    .json();
    assert_eq!(by_person["items"].as_array().map(Vec::len), Some(1));
    let bad = send(
        &app,
        "GET",
        "/api/audit?since=yesterday",
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["field"], "since");
    let csv = send(
        &app,
        "GET",
        "/api/audit/export.csv?action=logout",
        As::Bearer(ENV_TOKEN),
        None,
    )
    .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8_lossy(&csv.body).into_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("at,actor,actor_id,action,target,detail,client_ip,request_id")
    );
    let row = lines.next().expect("a row");
    assert!(
        row.contains(",ann@example.be,") && row.contains(",logout,"),
        "{row}"
    );

    // Nothing secret reached the log: no password, hash, cookie or token.
    let log = app.log_text();
    for secret in [
        PASSWORD,
        "not it at all",
        cookie.as_str(),
        token.as_str(),
        "$argon2id",
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log");
    }
}
