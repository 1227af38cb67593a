//! The Call Control v2 client: dial, answer, hangup, streaming start/stop, transfer.
//!
//! Every command carries a `command_id` that Telnyx de-duplicates on, generated once per
//! command and reused by its retries, so a retry can never dial twice. Only failures that
//! cannot have been acted on twice are retried (connection errors and 5xx answers), with
//! jittered exponential backoff. Telnyx's `errors[]` become [`TelnyxError::Api`]; hanging
//! up a call that already ended (422, code 90018) counts as success.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_API_BASE: &str = "https://api.telnyx.com/v2";

/// Telnyx's code for "call has already ended".
pub const CALL_ENDED: &str = "90018";

/// One entry of Telnyx's `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ApiErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelnyxError {
    /// Telnyx answered with an error status.
    #[error("telnyx answered {status}: {}", summary(.errors))]
    Api {
        status: u16,
        errors: Vec<ApiErrorItem>,
    },
    /// The request did not complete (connection, timeout, TLS), after the retries.
    #[error("telnyx unreachable: {0}")]
    Transport(String),
    /// A 2xx answer we could not read.
    #[error("unexpected telnyx answer: {0}")]
    Decode(String),
}

fn summary(errors: &[ApiErrorItem]) -> String {
    if errors.is_empty() {
        return "no error details".into();
    }
    errors
        .iter()
        .map(|e| {
            format!("{} {} {}", e.code, e.title, e.detail)
                .trim()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl TelnyxError {
    /// 422 with code 90018: the call is already over.
    pub fn is_call_ended(&self) -> bool {
        matches!(self, Self::Api { status: 422, errors } if errors.iter().any(|e| e.code == CALL_ENDED))
    }

    /// The first error code Telnyx gave, for API answers and logs.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { errors, .. } => errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }
}

/// How the media stream of a call is set up (dial and answer carry the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamParams {
    pub stream_url: String,
    /// Always `inbound_track`: only the caller goes to the agent.
    pub stream_track: &'static str,
    /// Always `rtp`: the agent's audio goes back on the same socket.
    pub stream_bidirectional_mode: &'static str,
    /// `PCMU` or `PCMA`.
    pub stream_codec: String,
    pub stream_bidirectional_codec: String,
    /// The per-call secret Telnyx sends back on the media socket.
    pub stream_auth_token: String,
}

impl StreamParams {
    pub fn new(stream_url: String, codec: &str, token: String) -> Self {
        Self {
            stream_url,
            stream_track: "inbound_track",
            stream_bidirectional_mode: "rtp",
            stream_codec: codec.to_owned(),
            stream_bidirectional_codec: codec.to_owned(),
            stream_auth_token: token,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dial {
    pub connection_id: String,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub stream: StreamParams,
    /// base64, names our call (see [`super::events::client_state`]).
    pub client_state: String,
    /// `detect`, `premium`, ... or `disabled`.
    pub answering_machine_detection: String,
    pub timeout_secs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u32>,
    /// Where this call's webhooks go (the dialling appliance, when several share a
    /// store); the connection's URL otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// What Telnyx answers to a dial.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dialed {
    pub call_control_id: String,
    #[serde(default)]
    pub call_leg_id: String,
    #[serde(default)]
    pub call_session_id: String,
}

#[derive(Deserialize)]
struct DataEnvelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ApiErrorItem>,
}

/// Retry policy: attempts in all, and the first backoff (doubled each time, jittered).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

#[derive(Clone)]
pub struct CallControl {
    http: reqwest::Client,
    base: String,
    api_key: String,
    retry: Retry,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the API key.
        f.debug_struct("CallControl")
            .field("base", &self.base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A fresh command id (Telnyx de-duplicates commands on it).
pub fn command_id() -> String {
    let a: u128 = rand::random();
    format!("{a:032x}")
}

impl CallControl {
    /// `base` is the API root (`https://api.telnyx.com/v2`; tests point it at a fake).
    pub fn new(
        base: &str,
        api_key: &str,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, crate::integrations::ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("agent5/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::integrations::ClientError::new("Telnyx", e))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            retry,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` (with `command_id` added) to `path`, retrying only what is safe.
    async fn post(&self, path: &str, mut body: Value) -> Result<Value, TelnyxError> {
        if let Value::Object(m) = &mut body {
            m.entry("command_id")
                .or_insert_with(|| Value::from(command_id()));
        }
        let url = format!("{}{path}", self.base);
        let mut last = TelnyxError::Transport("no attempt made".into());
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                let base = self.retry.backoff.as_millis() as u64 * (1 << (attempt - 1).min(6));
                let jitter = rand::random::<u64>() % (base / 2 + 1);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.api_key)
                .json(&body)
                .send()
                .await;
            let res = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    last = TelnyxError::Transport(transport_message(&e));
                    continue;
                }
                // A timeout after the request may have been sent is not retried here:
                // the command_id makes a later, deliberate retry safe.
                Err(e) => return Err(TelnyxError::Transport(transport_message(&e))),
            };
            let status = res.status().as_u16();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| TelnyxError::Transport(transport_message(&e)))?;
            if (200..300).contains(&status) {
                return serde_json::from_slice::<DataEnvelope<Value>>(&bytes)
                    .map(|d| d.data)
                    .or_else(|_| {
                        if bytes.is_empty() {
                            Ok(Value::Null)
                        } else {
                            Err(TelnyxError::Decode(format!(
                                "{status}: not a data envelope"
                            )))
                        }
                    });
            }
            let errors = serde_json::from_slice::<ErrorEnvelope>(&bytes)
                .map(|e| e.errors)
                .unwrap_or_default();
            last = TelnyxError::Api { status, errors };
            if status < 500 {
                return Err(last);
            }
        }
        Err(last)
    }

    pub async fn dial(&self, dial: &Dial) -> Result<Dialed, TelnyxError> {
        let body = serde_json::to_value(dial).map_err(|e| TelnyxError::Decode(e.to_string()))?;
        let data = self.post("/calls", body).await?;
        serde_json::from_value(data).map_err(|e| TelnyxError::Decode(e.to_string()))
    }

    pub async fn answer(
        &self,
        call_control_id: &str,
        stream: &StreamParams,
        client_state: &str,
    ) -> Result<(), TelnyxError> {
        let mut body =
            serde_json::to_value(stream).map_err(|e| TelnyxError::Decode(e.to_string()))?;
        body["client_state"] = Value::from(client_state);
        self.action(call_control_id, "answer", body).await
    }

    /// Hangs up; a call that already ended is not an error.
    pub async fn hangup(&self, call_control_id: &str) -> Result<(), TelnyxError> {
        match self
            .action(call_control_id, "hangup", serde_json::json!({}))
            .await
        {
            Err(e) if e.is_call_ended() => Ok(()),
            other => other,
        }
    }

    pub async fn streaming_start(
        &self,
        call_control_id: &str,
        stream: &StreamParams,
    ) -> Result<(), TelnyxError> {
        let body = serde_json::to_value(stream).map_err(|e| TelnyxError::Decode(e.to_string()))?;
        self.action(call_control_id, "streaming_start", body).await
    }

    pub async fn streaming_stop(&self, call_control_id: &str) -> Result<(), TelnyxError> {
        self.action(call_control_id, "streaming_stop", serde_json::json!({}))
            .await
    }

    pub async fn transfer(
        &self,
        call_control_id: &str,
        to: &str,
        from: &str,
    ) -> Result<(), TelnyxError> {
        self.action(
            call_control_id,
            "transfer",
            serde_json::json!({ "to": to, "from": from }),
        )
        .await
    }

    async fn action(
        &self,
        call_control_id: &str,
        action: &str,
        body: Value,
    ) -> Result<(), TelnyxError> {
        let id: String = percent_encoding::utf8_percent_encode(
            call_control_id,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        self.post(&format!("/calls/{id}/actions/{action}"), body)
            .await
            .map(|_| ())
    }
}

/// The error text without the URL's query or any header (never the API key).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    format!("{kind} error: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_body_has_the_fixed_stream_fields() {
        let dial = Dial {
            connection_id: "conn".into(),
            from: "+3225111234".into(),
            to: "+32475123456".into(),
            stream: StreamParams::new("wss://x/websocket?call=c1".into(), "PCMA", "tok".into()),
            client_state: super::super::events::client_state("c1"),
            answering_machine_detection: "detect".into(),
            timeout_secs: 30,
            time_limit_secs: None,
            webhook_url: None,
        };
        let v = serde_json::to_value(&dial).expect("json");
        assert_eq!(v["stream_bidirectional_mode"], "rtp");
        assert_eq!(v["stream_track"], "inbound_track");
        assert_eq!(v["stream_codec"], "PCMA");
        assert_eq!(v["stream_bidirectional_codec"], "PCMA");
        assert_eq!(v["stream_auth_token"], "tok");
        assert!(v.get("time_limit_secs").is_none());
        assert!(v.get("webhook_url").is_none(), "the connection's URL");
    }

    #[test]
    fn call_ended_is_recognised() {
        let ended = TelnyxError::Api {
            status: 422,
            errors: vec![ApiErrorItem {
                code: "90018".into(),
                title: "Call has already ended".into(),
                detail: String::new(),
            }],
        };
        assert!(ended.is_call_ended());
        assert_eq!(ended.code(), Some("90018"));
        let other = TelnyxError::Api {
            status: 422,
            errors: vec![],
        };
        assert!(!other.is_call_ended());
        assert_ne!(command_id(), command_id());
    }
}
