//! Placing a call: the settings it needs, DNC checked at dial time, the concurrency
//! cap (serialised with the creation of the record), the idempotency key, a per-call
//! stream token (only its hash stored), then Call Control's `dial`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{state, Telephony};
use crate::integrations::telnyx::client::{Dial, StreamParams, TelnyxError};
use crate::integrations::telnyx::events::client_state;
use crate::model::{new_id, now_millis, Call, CallFacts, CallStatus, Direction};
use crate::store::StoreError;

/// A dial request, validated.
#[derive(Debug, Clone)]
pub struct DialRequest {
    pub to: String,
    pub agent_profile: Option<String>,
    pub customer_id: Option<String>,
    pub delivery_code: Option<String>,
    pub campaign_id: Option<String>,
    pub lang: Option<String>,
    pub idempotency_key: Option<String>,
    /// The call's id, when the caller chose it (the dialler uses its attempt's id, so
    /// `client_state` names the attempt).
    pub call_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{0} is on the do-not-call list")]
    OptedOut(String),
    #[error("{0} calls are in progress, the configured maximum")]
    Capacity(u64),
    #[error("Telnyx is not configured: missing {0}")]
    NotConfigured(String),
    #[error("the carrier refused the call: {0}")]
    Carrier(TelnyxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new media-stream secret and its stored hash.
pub fn stream_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    (token.clone(), token_hash(&token))
}

/// SHA-256 of a media-stream token, hex.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn stream_url_for(base: &str, call_id: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}call={call_id}")
}

/// The media WebSocket URL of this appliance: the configured `stream_url` with its
/// origin replaced by the appliance's own public URL (`[cluster] public_url`), so the
/// carrier streams a call to the appliance that holds it; the configured URL as it is
/// without one.
pub(super) fn own_stream_base(configured: &str, public_url: &str) -> String {
    let Some((scheme, host)) = public_url.split_once("://") else {
        return configured.to_owned();
    };
    let ws = if scheme == "https" { "wss" } else { "ws" };
    let path = configured
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/websocket");
    format!("{ws}://{host}{path}")
}

/// Where the carrier sends this appliance's calls' webhooks (`None`: the connection's
/// URL, a single appliance).
pub(super) fn own_webhook_url(public_url: &str) -> Option<String> {
    (!public_url.is_empty()).then(|| format!("{public_url}/api/telnyx/events"))
}

impl Telephony {
    /// Dials `req.to`: refuses opted-out numbers and calls over the cap, creates the
    /// call record, then asks Telnyx to dial. `Ok((call, false))` for a new call,
    /// `Ok((call, true))` when the idempotency key names an earlier one.
    pub async fn dial(&self, req: DialRequest) -> Result<(Call, bool), DialError> {
        let s = &self.settings;
        self.check_configured()?;
        if let Some(key) = &req.idempotency_key {
            match self.store.find_call_by_idempotency_key(key).await {
                Ok(call) => return Ok((call, true)),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Checked at dial time: an opt-out after the upload still stops the call.
        if !self
            .store
            .dnc_lookup(std::slice::from_ref(&req.to))
            .await?
            .is_empty()
        {
            self.metrics
                .dials_refused
                .with_label_values(&["opted_out"])
                .inc();
            return Err(DialError::OptedOut(req.to));
        }
        let (token, hash) = stream_token();
        let now = now_millis();
        let mut call = Call {
            idempotency_key: req.idempotency_key.clone(),
            customer_id: req.customer_id.map(Into::into),
            delivery_code: req.delivery_code,
            campaign_id: req.campaign_id,
            agent_profile: req.agent_profile,
            stream_token_hash: Some(hash),
            facts: CallFacts {
                from: s.from_number.clone(),
                lang: req.lang,
                hangup_on_machine: s.hangup_on_machine,
                ..CallFacts::default()
            },
            owner: Some(s.identity.owner()),
            ..Call::new(
                req.call_id.clone().unwrap_or_else(new_id),
                Direction::Outbound,
                req.to.clone(),
                now,
            )
        };
        state::refresh(&mut call);
        let created = {
            let _admitted = self.admission.lock().await;
            let live = self.store.count_calls_in(&CallStatus::LIVE).await?;
            if live >= s.max_concurrent_calls {
                self.metrics
                    .dials_refused
                    .with_label_values(&["capacity"])
                    .inc();
                return Err(DialError::Capacity(s.max_concurrent_calls));
            }
            match self.store.create_call(call).await {
                Ok(c) => c,
                // The same idempotency key raced us: the first call wins.
                Err(StoreError::Conflict { field }) if field == "idempotency_key" => {
                    let key = req.idempotency_key.as_deref().unwrap_or_default();
                    return Ok((self.store.find_call_by_idempotency_key(key).await?, true));
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.changed(&created.id);
        self.place(created, req.to, token).await
    }

    /// Whether every setting a dial needs is there.
    pub fn configured(&self) -> bool {
        self.check_configured().is_ok()
    }

    /// Every setting a dial needs, or which are missing.
    fn check_configured(&self) -> Result<(), DialError> {
        let s = &self.settings;
        let missing: Vec<&str> = [
            ("TELNYX_API_KEY", self.client.is_none()),
            ("TELNYX_CONNECTION_ID", s.connection_id.is_none()),
            ("TELNYX_PHONE_NUMBER", s.from_number.is_none()),
            ("TELNYX_STREAM_URL", s.stream_url.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DialError::NotConfigured(missing.join(", ")))
        }
    }

    /// Asks the carrier to dial the stored call `created`; a refusal is stored with it.
    async fn place(
        &self,
        created: Call,
        to: String,
        token: String,
    ) -> Result<(Call, bool), DialError> {
        let s = &self.settings;
        let dial = Dial {
            connection_id: s.connection_id.clone().unwrap_or_default(),
            from: s.from_number.clone().unwrap_or_default(),
            to,
            stream: StreamParams::new(
                stream_url_for(
                    &own_stream_base(
                        s.stream_url.as_deref().unwrap_or_default(),
                        &s.identity.public_url,
                    ),
                    &created.id,
                ),
                &s.codec,
                token,
            ),
            client_state: client_state(&created.id),
            answering_machine_detection: s.amd.clone(),
            timeout_secs: s.ring_timeout_secs,
            time_limit_secs: None,
            webhook_url: own_webhook_url(&s.identity.public_url),
        };
        let Some(client) = &self.client else {
            return Err(DialError::NotConfigured("TELNYX_API_KEY".into()));
        };
        let dialed = client.dial(&dial).await;
        self.command_result("dial", dialed.is_ok());
        let id = created.id.clone();
        match dialed {
            Ok(d) => {
                let call = self
                    .update(&id, |c| {
                        if c.call_control_id.is_none() {
                            c.call_control_id = Some(d.call_control_id.clone());
                        }
                    })
                    .await?;
                Ok((call, false))
            }
            Err(e) => {
                self.metrics
                    .dials_refused
                    .with_label_values(&["carrier"])
                    .inc();
                tracing::warn!(call_id = %id, error = %e, "dial failed");
                let why = e.to_string();
                self.update(&id, |c| {
                    c.facts.dial_error = Some(why.clone());
                    state::refresh(c);
                })
                .await?;
                Err(DialError::Carrier(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appliance_with_a_public_url_takes_its_own_calls_media_and_webhooks() {
        let configured = "wss://agent5.example.com/websocket";
        assert_eq!(own_stream_base(configured, ""), configured);
        assert_eq!(
            own_stream_base(configured, "https://node-b.example.com"),
            "wss://node-b.example.com/websocket"
        );
        assert_eq!(
            own_stream_base("ws://lb:8080/media/ws?x=1", "http://10.0.0.2:3000"),
            "ws://10.0.0.2:3000/media/ws?x=1"
        );
        assert_eq!(
            own_stream_base("wss://lb", "https://node-b.example.com"),
            "wss://node-b.example.com/websocket",
            "no path configured: the appliance's own"
        );
        assert_eq!(own_webhook_url(""), None);
        assert_eq!(
            own_webhook_url("https://node-b.example.com").as_deref(),
            Some("https://node-b.example.com/api/telnyx/events")
        );
    }
}
