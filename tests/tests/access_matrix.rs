//! The role x route matrix, from the access table itself (`agent5_api::access::RULES`):
//! for every built-in role, every route and every WebSocket kind is refused with 403
//! `forbidden` exactly when the role lacks the permission the table names, and never
//! refused for lack of permission when it has it. A route the table does not list is
//! a 404 whatever the router holds.

use agent5_api::access::{example_path, Need, RULES};
use agent5_api::accounts::permissions::BuiltinRole;
use agent5_e2e::client::{self, body, empty};
use agent5_e2e::people::person_token;
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;

const ENV_TOKEN: &str = "env-token-aaaaaaaaaaaa";

async fn send(
    app: &Appliance,
    method: &str,
    path: &str,
    token: Option<&str>,
    ws: bool,
) -> (u16, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "agent5.test");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if ws {
        req = req
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    let payload = if method == "GET" || method == "DELETE" {
        empty()
    } else {
        req = req.header("content-type", "application/json");
        body("{}")
    };
    // Only the head is awaited: a live-call stream or an upgraded socket never ends.
    let stream = hyper_util::rt::TokioIo::new(client::tcp(app.addr("http")).await);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(stream)
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let res = sender
        .send_request(req.body(payload).expect("req"))
        .await
        .expect("response");
    let status = res.status().as_u16();
    let json = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let code = if json {
        use http_body_util::BodyExt;
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    } else {
        String::new()
    };
    (status, code)
}

#[tokio::test]
async fn every_role_meets_every_route_as_the_table_says() {
    let app = Appliance::start(Spec::new(
        agent5_bin!(),
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[metrics]\nlisten = \"\"\n\
             [auth]\ntokens = [\"{ENV_TOKEN}\"]\n[rate_limit]\n\
             api = {{ per_minute = 100000, burst = 100000 }}\n\
             websocket = {{ per_minute = 100000, burst = 100000 }}\n[dev]\nwebsocket_echo = true\n"
        ),
    ));
    let mut checked = 0;
    for role in BuiltinRole::ALL {
        let addr = app.addr("http");
        let email = format!("{}@example.be", role.name());
        let token = person_token(
            || client::tcp(addr),
            ENV_TOKEN,
            &email,
            role.name(),
            "matrix",
        )
        .await;
        let allowed = role.set();
        for rule in RULES {
            let mut path = example_path(rule.pattern);
            if let Some((_, q)) = rule.pattern.split_once('?') {
                path = format!("{path}?{q}");
            }
            // Logging out or revoking would end the token mid-walk: their need is checked
            // like any other, on a token that stays valid.
            let (status, code) = send(&app, rule.method, &path, Some(&token), rule.websocket).await;
            let what = format!(
                "{} {} as {}: {status} {code}",
                rule.method,
                rule.pattern,
                role.name()
            );
            match rule.need {
                Need::Permission(p) if !allowed.contains(p) => {
                    assert_eq!((status, code.as_str()), (403, "forbidden"), "{what}");
                }
                Need::Permission(_) | Need::SignedIn | Need::Public => {
                    assert!(
                        !(status == 403 && code == "forbidden") && status != 401,
                        "{what}"
                    );
                }
                // Signed routes judge their own signature or stream token.
                Need::Signed => assert!(code != "forbidden", "{what}"),
            }
            checked += 1;
            if matches!(rule.need, Need::Permission(_) | Need::SignedIn) {
                let (status, _) = send(&app, rule.method, &path, None, rule.websocket).await;
                assert_eq!(
                    status, 401,
                    "{} {} without a credential",
                    rule.method, rule.pattern
                );
            }
        }
    }
    assert_eq!(checked, RULES.len() * 4);
    // Not in the table: not served, whoever asks.
    for (method, path) in [
        ("GET", "/api/nothing"),
        ("GET", "/api/status/"),
        ("PUT", "/api/status"),
    ] {
        let (status, _) = send(&app, method, path, Some(ENV_TOKEN), false).await;
        assert!(status == 404 || status == 405, "{method} {path}: {status}");
    }
}
