//! A fake Telnyx for tests: a Call Control REST server that records every request and
//! answers as Telnyx does (`{"data":…}`, `{"errors":[…]}`, de-duplication by
//! `command_id`), with scripted failures; and a webhook signer using the published
//! test key pair (or any other key) with the exact `timestamp|body` scheme.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use ed25519_dalek::{Signer as _, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The seed of the key pair published in the official Telnyx Java SDK tests.
pub const TEST_SEED_B64: &str = "i1xxSkIuQOY9H8laaRslIoYGTJ1NwBAFdjsQwiwJH04=";
/// Its public key, as the Telnyx portal shows it (raw 32 bytes, base64).
pub const TEST_PUBLIC_KEY_B64: &str = "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs=";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

struct Script {
    path_contains: String,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct Inner {
    /// Paths whose next request is recorded and never answered (a carrier that hangs).
    stalls: Vec<String>,
    /// Call ids are `v2:<prefix>-<n>` (`fake` unless set).
    id_prefix: Option<String>,
    requests: Vec<Recorded>,
    scripts: VecDeque<Script>,
    /// Successful answers by command_id (Telnyx answers a repeated command the same).
    answered: HashMap<String, (u16, Value)>,
    dials: u64,
}

#[derive(Clone)]
pub struct FakeTelnyx {
    /// The API root to configure (`http://127.0.0.1:PORT/v2`).
    pub url: String,
    api_key: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeTelnyx {
    /// Listens on an ephemeral loopback port; requests must carry `Bearer api_key`.
    pub async fn start(api_key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telnyx");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let fake = Self {
            url: format!("http://{addr}/v2"),
            api_key: api_key.to_owned(),
            inner: Arc::new(Mutex::new(Inner::default())),
            changed: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// The next request whose path contains `path_contains` answers `status` + `body`.
    pub fn script(&self, path_contains: &str, status: u16, body: Value) {
        self.lock().scripts.push_back(Script {
            path_contains: path_contains.to_owned(),
            status,
            body,
        });
    }

    /// Names this carrier's calls `v2:<prefix>-<n>`, so two fakes' calls can share a
    /// database.
    pub fn set_id_prefix(&self, prefix: &str) {
        self.lock().id_prefix = Some(prefix.to_owned());
    }

    /// The next request whose path contains `path_contains` is recorded and never
    /// answered: the client waits until it gives up or dies.
    pub fn stall(&self, path_contains: &str) {
        self.lock().stalls.push(path_contains.to_owned());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests after the first `from` (what arrived since a caller last looked),
    /// without copying the ones before.
    pub fn requests_since(&self, from: usize) -> Vec<Recorded> {
        self.lock()
            .requests
            .get(from..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Requests whose path ends with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    /// Waits (up to 10 s) until `count` requests match `pred`; returns them.
    pub async fn wait_for(&self, count: usize, pred: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.changed.notified();
            // Only the matches are copied: with hundreds of dials recorded (the load
            // tool's ramp), copying them all for every waiting call grew with the square.
            let found: Vec<Recorded> = self
                .lock()
                .requests
                .iter()
                .filter(|r| pred(r))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake telnyx: {count} matching requests expected, saw {}: {:#?}",
                    found.len(),
                    self.requests()
                );
            }
        }
    }

    /// The media token of the dial for call `call_id` (the one whose `stream_url` ends
    /// with it), waiting for that dial up to 10 s like [`FakeTelnyx::wait_for`].
    pub async fn media_token(&self, call_id: &str) -> String {
        let dial = self
            .wait_for(1, |r| {
                r.body["stream_url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(call_id))
            })
            .await
            .remove(0);
        dial.body["stream_auth_token"]
            .as_str()
            .expect("the dial carries a stream_auth_token")
            .to_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let stalled = {
            let mut inner = self.lock();
            match inner.stalls.iter().position(|p| path.contains(p.as_str())) {
                Some(i) => {
                    inner.stalls.remove(i);
                    inner.requests.push(Recorded {
                        method: method.clone(),
                        path: path.clone(),
                        authorization: authorization.clone(),
                        body: body.clone(),
                    });
                    true
                }
                None => false,
            }
        };
        if stalled {
            self.changed.notify_waiters();
            std::future::pending::<()>().await;
        }
        let (status, answer) = self.answer(&method, &path, authorization.as_deref(), &body);
        self.lock().requests.push(Recorded {
            method,
            path,
            authorization,
            body,
        });
        self.changed.notify_waiters();
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap_or_default()
    }

    fn answer(&self, method: &str, path: &str, auth: Option<&str>, body: &Value) -> (u16, Value) {
        if auth != Some(format!("Bearer {}", self.api_key).as_str()) {
            return (
                401,
                json!({"errors": [{"code": "10009", "title": "Authentication failed", "detail": "bad API key"}]}),
            );
        }
        let mut inner = self.lock();
        let command = body["command_id"].as_str().map(str::to_owned);
        if let Some(id) = &command {
            if let Some(done) = inner.answered.get(id) {
                return done.clone();
            }
        }
        if let Some(i) = inner
            .scripts
            .iter()
            .position(|s| path.contains(&s.path_contains))
        {
            let s = inner.scripts.remove(i).unwrap_or_else(|| unreachable!());
            return (s.status, s.body);
        }
        let answer = if method == "POST" && path == "/v2/calls" {
            for field in ["connection_id", "from", "to"] {
                if !body[field].is_string() {
                    return (
                        422,
                        json!({"errors": [{"code": "10015", "title": "Invalid value", "detail": format!("{field} is required")}]}),
                    );
                }
            }
            inner.dials += 1;
            let n = inner.dials;
            let prefix = inner.id_prefix.clone().unwrap_or_else(|| "fake".into());
            (
                200,
                json!({"data": {
                    "call_control_id": format!("v2:{prefix}-{n}"),
                    "call_leg_id": format!("leg-{n}"),
                    "call_session_id": format!("session-{n}"),
                    "is_alive": false,
                    "record_type": "call"
                }}),
            )
        } else if method == "POST" && path.starts_with("/v2/calls/") && path.contains("/actions/") {
            (200, json!({"data": {"result": "ok"}}))
        } else {
            (
                404,
                json!({"errors": [{"code": "10005", "title": "Resource not found"}]}),
            )
        };
        if let Some(id) = command {
            inner.answered.insert(id, answer.clone());
        }
        answer
    }
}

/// Signs webhooks like Telnyx: Ed25519 over `timestamp|body`.
pub struct WebhookSigner(SigningKey);

impl WebhookSigner {
    /// The published test key (its public half is [`TEST_PUBLIC_KEY_B64`]).
    pub fn test_key() -> Self {
        let seed: [u8; 32] = STANDARD
            .decode(TEST_SEED_B64)
            .ok()
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 32]);
        Self(SigningKey::from_bytes(&seed))
    }

    /// Some other key, for wrong-signer tests.
    pub fn other_key() -> Self {
        Self(SigningKey::from_bytes(&[7; 32]))
    }

    /// The `telnyx-signature-ed25519` value for `timestamp` and `body`.
    pub fn sign(&self, timestamp: i64, body: &str) -> String {
        let message = format!("{timestamp}|{body}");
        STANDARD.encode(self.0.sign(message.as_bytes()).to_bytes())
    }
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// An `occurred_at` as Telnyx writes it for Unix milliseconds `at`. Tests stamp carrier
/// events relative to [`now_millis`], never with a literal date.
pub fn carrier_time(at: i64) -> String {
    agent5_api::time::rfc3339_millis(at)
}

/// A webhook body as Telnyx sends it.
pub fn envelope(id: &str, event_type: &str, occurred_at: &str, payload: Value) -> String {
    json!({
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": id,
            "occurred_at": occurred_at,
            "payload": payload,
        },
        "meta": {"attempt": 1, "delivered_to": "https://agent5.test/api/telnyx/events"}
    })
    .to_string()
}

/// The `client_state` the appliance sets for its call `call_id`.
pub fn client_state(call_id: &str) -> String {
    STANDARD.encode(format!("agent5:{call_id}"))
}

/// Decodes a `client_state`.
pub fn decode_client_state(state: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(state).ok()?).ok()
}
