//! A Server-Sent Events client for the tests: reads the stream as it arrives and waits
//! for an event of a kind whose data contains a string.

use std::path::Path;

use http::Request;
use serde_json::Value;

use crate::client::{self, empty};

/// Reads a Server-Sent Events response as it arrives.
pub struct EventStream {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    changed: std::sync::Arc<tokio::sync::Notify>,
}

impl EventStream {
    pub async fn open(sock: &Path, path: &str, token: &str) -> Self {
        use http_body_util::BodyExt;
        let stream = client::unix(sock).await;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", "agent5.test")
            .header("authorization", format!("Bearer {token}"))
            .body(empty())
            .expect("req");
        let res = sender.send_request(req).await.expect("response");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let (t, c) = (
            std::sync::Arc::clone(&text),
            std::sync::Arc::clone(&changed),
        );
        tokio::spawn(async move {
            let mut body = res.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    t.lock()
                        .expect("lock")
                        .push_str(&String::from_utf8_lossy(&data));
                    c.notify_waiters();
                }
            }
        });
        Self { text, changed }
    }

    /// Waits for an event of `kind` whose data contains `needle`; returns its data.
    pub async fn wait(&self, kind: &str, needle: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let found = self
                .text
                .lock()
                .expect("lock")
                .split("\n\n")
                .find_map(|block| {
                    let mut event = "";
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(e) = line.strip_prefix("event: ") {
                            event = e;
                        } else if let Some(d) = line.strip_prefix("data: ") {
                            data.push_str(d);
                        }
                    }
                    (event == kind && data.contains(needle))
                        .then(|| serde_json::from_str(&data).unwrap_or(Value::Null))
                });
            if let Some(v) = found {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no {kind} event with {needle}; got:\n{}",
                    self.text.lock().expect("lock")
                );
            }
        }
    }
}
