//! The Telnyx rig shared by the webhook and calls tests: the real binary with a fake
//! Telnyx Call Control API, signed webhook delivery with the test key, and metric reads.
#![allow(dead_code)] // each test crate uses its own part of the rig

use agent5_e2e::client::{self, body, empty};
use agent5_e2e::fake_telnyx::{envelope, now_unix, FakeTelnyx, WebhookSigner, TEST_PUBLIC_KEY_B64};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;
use serde_json::{json, Value};

pub const TOKEN: &str = "telnyx-test-token-aaaaaaaa";
pub const API_KEY: &str = "KEY01TESTsecretTelnyxApiKey_do_not_log";

pub struct Rig {
    pub app: Appliance,
    pub fake: FakeTelnyx,
    pub signer: WebhookSigner,
}

pub async fn rig(extra: &str) -> Rig {
    let fake = FakeTelnyx::start(API_KEY).await;
    let config = format!(
        "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n\
         [telnyx]\napi_key = \"{API_KEY}\"\napi_base = \"{}\"\nconnection_id = \"conn-1\"\n\
         phone_number = \"+3225550000\"\npublic_key_pem = \"{TEST_PUBLIC_KEY_B64}\"\n\
         stream_url = \"wss://agent5.test/websocket\"\ncodec = \"PCMA\"\nretry_backoff_ms = 5\n{extra}",
        fake.url
    );
    let app = tokio::task::block_in_place(|| Appliance::start(Spec::new(agent5_bin!(), config)));
    Rig {
        app,
        fake,
        signer: WebhookSigner::test_key(),
    }
}

pub async fn api_at(
    sock: &std::path::Path,
    method: &str,
    path: &str,
    json: Option<Value>,
    headers: &[(&str, &str)],
) -> client::Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match json {
        Some(v) => req
            .header("content-type", "application/json")
            .body(body(v.to_string())),
        None => req.body(empty()),
    }
    .expect("request");
    client::send(client::unix(sock).await, req).await
}

/// POSTs a webhook with exactly these headers (no bearer token: Telnyx has none).
pub async fn deliver_at(
    sock: &std::path::Path,
    path: &str,
    payload: &str,
    headers: &[(&str, String)],
) -> client::Reply {
    let mut req = Request::post(path)
        .header("host", "agent5.test")
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req.body(body(payload.to_owned())).expect("request");
    client::send(client::unix(sock).await, req).await
}

impl Rig {
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        json: Option<Value>,
        headers: &[(&str, &str)],
    ) -> client::Reply {
        api_at(&self.app.unix_socket("http"), method, path, json, headers).await
    }

    pub async fn deliver(
        &self,
        path: &str,
        payload: &str,
        headers: &[(&str, String)],
    ) -> client::Reply {
        deliver_at(&self.app.unix_socket("http"), path, payload, headers).await
    }

    pub fn signed(&self, payload: &str) -> Vec<(&'static str, String)> {
        let ts = now_unix();
        vec![
            ("telnyx-timestamp", ts.to_string()),
            ("telnyx-signature-ed25519", self.signer.sign(ts, payload)),
        ]
    }

    pub async fn event(&self, payload: &str) -> client::Reply {
        let headers = self.signed(payload);
        self.deliver("/api/telnyx/events", payload, &headers).await
    }

    pub async fn dial(&self, to: &str, extra: Value) -> client::Reply {
        let mut b = json!({ "to": to });
        if let (Value::Object(m), Value::Object(e)) = (&mut b, extra) {
            m.extend(e);
        }
        self.api("POST", "/api/calls", Some(b), &[]).await
    }

    /// Reads the call until `pred` holds (webhooks are processed after their 200).
    /// Each read after the first waits on the appliance for the call's next change
    /// (`?after=<revision>`), no sleeping.
    pub async fn call_until(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut uri = format!("/api/calls/{id}");
        loop {
            let v = self.api("GET", &uri, None, &[]).await.json();
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} never got there: {v:#}"
            );
            let revision = v["revision"].as_str().unwrap_or_default();
            uri = format!("/api/calls/{id}?after={revision}&wait=5");
        }
    }

    pub async fn metrics(&self) -> String {
        let r = self.api("GET", "/metrics", None, &[]).await;
        String::from_utf8_lossy(&r.body).into_owned()
    }
}

pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// A negative webhook case: name, body, headers, expected status and error code.
pub type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, u16, &'a str);

pub fn event(id: &str, kind: &str, at: &str, payload: Value) -> String {
    envelope(id, kind, at, payload)
}

/// Waits until the appliance's dialler has made `n` more passes.
pub async fn dialler_ticks(sock: &std::path::Path, n: f64) {
    let count = |t: &str| metric(t, "agent5_dialer_tick_seconds_count");
    let text = |r: agent5_e2e::client::Reply| String::from_utf8_lossy(&r.body).into_owned();
    let start = count(&text(api_at(sock, "GET", "/metrics", None, &[]).await));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = count(&text(api_at(sock, "GET", "/metrics", None, &[]).await));
        if now >= start + n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dialler stopped ticking"
        );
        tokio::task::yield_now().await;
    }
}
