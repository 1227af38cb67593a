//! LiveKit through the appliance: tokens minted for the admin pages (checked with
//! LiveKit's own verifier, and the upstream test vector), webhooks verified by JWT and
//! body hash, and the RoomService client against a fake Twirp server on loopback.

use std::sync::{Arc, Mutex};

use agent5_e2e::client::{self, body, empty};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use livekit_api::access_token::{AccessToken, TokenVerifier};
use serde_json::{json, Value};

const TOKEN: &str = "livekit-test-token-aaaaaaa";
const KEY: &str = "APIkeyTest";
const SECRET: &str = "secretsecretsecretsecretsecretsecret";

type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A fake LiveKit server API: records (path, authorization, body), answers Twirp JSON.
async fn fake_twirp() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    async move {
                        let path = req.uri().path().to_owned();
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let b = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                        record.lock().expect("lock").push((path.clone(), auth, v));
                        let answer = match path.rsplit('/').next() {
                            Some("ListRooms") => {
                                json!({"rooms": [{"sid": "RM_1", "name": "call-1", "num_participants": 2}]})
                            }
                            Some("ListParticipants") => {
                                json!({"participants": [{"identity": "op-ann"}]})
                            }
                            Some("DeleteRoom") => json!({}),
                            _ => json!({"code": "bad_route", "msg": "no such method"}),
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .unwrap_or_default(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("ws://{addr}"), seen)
}

async fn call(
    app: &Appliance,
    method: &str,
    path: &str,
    auth: Option<&str>,
    payload: Option<&str>,
) -> client::Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "agent5.test");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = match payload {
        Some(p) => req
            .header("content-type", "application/json")
            .body(body(p.to_owned())),
        None => req.body(empty()),
    }
    .expect("req");
    client::send(client::unix(&app.unix_socket("http")).await, req).await
}

/// The appliance with LiveKit pointed at a fake RoomService; what the tests need.
struct Rig {
    app: Appliance,
    url: String,
    seen: Seen,
    bearer: String,
    verifier: TokenVerifier,
}

async fn rig() -> Rig {
    let (url, seen) = fake_twirp().await;
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         [livekit]\nserver_url = \"{url}\"\napi_key = \"{KEY}\"\napi_secret = \"{SECRET}\"\ntoken_ttl_secs = 600\n"
    );
    let app = tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)));
    let bearer = format!("Bearer {TOKEN}");
    let verifier = TokenVerifier::with_api_key(KEY, SECRET);
    Rig {
        app,
        url,
        seen,
        bearer,
        verifier,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_carry_the_grants_the_admin_page_asks_for() {
    let Rig {
        app,
        url,
        bearer,
        verifier,
        ..
    } = rig().await;
    // Tokens, as the admin page asks for them.
    let r = call(
        &app,
        "GET",
        "/api/livekit/token?room=call-1&identity=op-ann&pub=1",
        Some(&bearer),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v = r.json();
    assert_eq!(
        (v["url"].as_str(), v["expires_in"].as_u64()),
        (Some(url.as_str()), Some(600))
    );
    let claims = verifier
        .verify(v["token"].as_str().expect("token"))
        .expect("verifies");
    assert_eq!((claims.iss.as_str(), claims.sub.as_str()), (KEY, "op-ann"));
    assert!(claims.video.room_join && claims.video.can_publish && claims.video.can_subscribe);
    assert_eq!(claims.video.room, "call-1");
    assert!(!claims.video.room_admin);
    assert_eq!(claims.exp - claims.nbf, 600);
    let viewer = call(
        &app,
        "GET",
        "/api/livekit/token?room=call-1&identity=viewer",
        Some(&bearer),
        None,
    )
    .await
    .json();
    let claims = verifier
        .verify(viewer["token"].as_str().expect("token"))
        .expect("verifies");
    assert!(
        !claims.video.can_publish && !claims.video.can_publish_data && claims.video.can_subscribe
    );
    for (q, field) in [
        ("identity=x", "room"),
        ("room=r", "identity"),
        ("room=r&identity=x&pub=2", "pub"),
    ] {
        let e = call(
            &app,
            "GET",
            &format!("/api/livekit/token?{q}"),
            Some(&bearer),
            None,
        )
        .await;
        assert_eq!(
            (e.status.as_u16(), e.json()["error"]["field"].as_str()),
            (400, Some(field))
        );
    }
    assert_eq!(
        call(
            &app,
            "GET",
            "/api/livekit/token?room=r&identity=x",
            None,
            None
        )
        .await
        .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_checked_by_their_jwt_and_body_hash() {
    let Rig { app, .. } = rig().await;
    // Webhooks: LiveKit's JWT (no "Bearer") carrying the body's SHA-256.
    let now = agent5_e2e::fake_telnyx::now_unix();
    let event = json!({"event": "room_started", "room": {"sid": "RM_1", "name": "call-1"}, "id": "EV_1", "createdAt": now.to_string()}).to_string();
    let sign = |secret: &str, body: &str| {
        use base64::Engine;
        let hash = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        AccessToken::with_api_key(KEY, secret)
            .with_sha256(&base64::engine::general_purpose::STANDARD.encode(hash.as_ref()))
            .to_jwt()
            .expect("jwt")
    };
    let good = sign(SECRET, &event);
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/livekit/webhook",
            Some(&good),
            Some(&event)
        )
        .await
        .status,
        200
    );
    // A replay of the same event (same id) is accepted once only; an old one is refused.
    let r = call(
        &app,
        "POST",
        "/api/livekit/webhook",
        Some(&good),
        Some(&event),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].as_str()),
        (200, Some("duplicate"))
    );
    let old =
        json!({"event": "room_started", "id": "EV_OLD", "createdAt": (now - 3600).to_string()})
            .to_string();
    let r = call(
        &app,
        "POST",
        "/api/livekit/webhook",
        Some(&sign(SECRET, &old)),
        Some(&old),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (401, Some("stale_event"))
    );
    let tampered = event.replace("call-1", "call-2");
    let r = call(
        &app,
        "POST",
        "/api/livekit/webhook",
        Some(&good),
        Some(&tampered),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (401, Some("body_mismatch"))
    );
    let forged = sign("another-secret-another-secret-xx", &event);
    let r = call(
        &app,
        "POST",
        "/api/livekit/webhook",
        Some(&forged),
        Some(&event),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(
        call(&app, "POST", "/api/livekit/webhook", None, Some(&event))
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_listed_and_deleted_through_room_service() {
    let Rig {
        app,
        seen,
        bearer,
        verifier,
        ..
    } = rig().await;
    // RoomService.
    let rooms = call(&app, "GET", "/api/livekit/rooms", Some(&bearer), None).await;
    assert_eq!(rooms.json()["rooms"][0]["name"], "call-1");
    let people = call(
        &app,
        "GET",
        "/api/livekit/rooms/call-1/participants",
        Some(&bearer),
        None,
    )
    .await;
    assert_eq!(people.json()["participants"][0]["identity"], "op-ann");
    assert_eq!(
        call(
            &app,
            "DELETE",
            "/api/livekit/rooms/call-1",
            Some(&bearer),
            None
        )
        .await
        .status,
        204
    );
    let calls = seen.lock().expect("lock").clone();
    let paths: Vec<&str> = calls.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/twirp/livekit.RoomService/ListRooms",
            "/twirp/livekit.RoomService/ListParticipants",
            "/twirp/livekit.RoomService/DeleteRoom"
        ]
    );
    assert_eq!(calls[1].2, json!({"room": "call-1"}));
    let admin = calls[2].1.strip_prefix("Bearer ").expect("bearer");
    let claims = verifier.verify(admin).expect("server token verifies");
    assert!(claims.video.room_admin && claims.video.room_list);
}

#[test]
fn the_upstream_token_vector_verifies() {
    let path = format!(
        "{}/../api/tests/fixtures/telnyx_webhook_vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value = serde_json::from_slice(&std::fs::read(path).expect("vectors")).expect("json");
    let v = &all["livekit_access_token"];
    // Checked by hand, not with TokenVerifier: the vector is valid only from its `nbf`
    // (2025-03-13) to its `exp` (2100), and TokenVerifier judges that by the real clock,
    // which would make this test depend on the day it runs.
    let claims = verify_hs256(
        v["jwt"].as_str().expect("jwt"),
        v["api_secret"].as_str().expect("secret"),
    )
    .expect("the vector verifies");
    let want = &v["decoded_claims"];
    for key in ["name", "sub", "iss", "nbf", "exp", "video"] {
        assert_eq!(claims[key], want[key], "{key}");
    }
    assert!(
        verify_hs256(v["jwt"].as_str().expect("jwt"), "not-the-secret").is_none(),
        "a wrong secret is refused"
    );
}

/// The claims of an HS256 JWT whose signature `secret` verifies.
fn verify_hs256(jwt: &str, secret: &str) -> Option<Value> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = jwt.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let header: Value = serde_json::from_slice(&b64.decode(header).ok()?).ok()?;
    if header["alg"] != "HS256" {
        return None;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, signed.as_bytes(), &b64.decode(signature).ok()?).ok()?;
    serde_json::from_slice(&b64.decode(claims).ok()?).ok()
}
