//! What the bridge needs from the rest of the appliance, as a trait the api crate
//! implements: who a media stream belongs to (and whether its token is right), where
//! transcript turns, tool calls, hang-ups and recordings go. The bridge itself knows
//! nothing about storage.

use async_trait::async_trait;
use serde_json::Value;

use crate::agent::{AgentProfile, ToolCall, ToolError};
use crate::call::core::TurnRecord;
use crate::g711::Codec;
use crate::recording::RecordingInfo;

/// A media stream's call, once its token checked out.
#[derive(Debug, Clone)]
pub struct MediaCall {
    pub call_id: String,
    pub profile: AgentProfile,
    /// The agent speaks first (outbound calls).
    pub greet: bool,
    /// The codec the call was set up with (the `start` frame may still correct it).
    pub codec: Codec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaAuthError {
    #[error("no such call")]
    UnknownCall,
    #[error("missing stream token")]
    MissingToken,
    #[error("wrong stream token")]
    WrongToken,
    #[error("the call has ended")]
    Ended,
    #[error("the store is unavailable")]
    Unavailable,
}

impl MediaAuthError {
    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownCall => "unknown_call",
            Self::MissingToken => "missing_token",
            Self::WrongToken => "wrong_token",
            Self::Ended => "ended",
            Self::Unavailable => "unavailable",
        }
    }
}

#[async_trait]
pub trait CallHooks: Send + Sync + 'static {
    /// Checks the stream token of `call_id` (constant time) and returns the call.
    async fn authorize_media(
        &self,
        call_id: &str,
        token: Option<&str>,
    ) -> Result<MediaCall, MediaAuthError>;
    /// Stores one transcript turn of the call.
    async fn turn(&self, call_id: &str, turn: TurnRecord);
    /// Runs a tool the agent called; `Err` is returned to the agent as an error.
    async fn tool(&self, call_id: &str, call: &ToolCall) -> Result<Value, ToolError>;
    /// Hangs the call up through the carrier.
    async fn hangup(&self, call_id: &str, reason: &str);
    /// The call's recording is complete.
    async fn recording_saved(&self, call_id: &str, recording: &RecordingInfo);
    /// Writes the audit log (listen-in, takeover, whisper: who, what, which call).
    async fn audit(&self, actor: &Actor, action: &str, call_id: &str);
    /// Opens the record of an Agent Studio session (a call flagged `studio`).
    async fn studio_started(&self, studio: &Studio) -> Result<MediaCall, StudioRefused>;
    /// The Studio session ended.
    async fn studio_ended(&self, call_id: &str);
}

/// How long listening in, taking over or whispering waits for its audit entry.
const AUDIT_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

/// Stores the audit entry for `action` before it happens: no one hears or steers a call
/// before the log names them. The write runs in a task of its own and is waited for up
/// to [`AUDIT_FIRST`]; a slower store delays the operator by no more than that (the
/// entry is stored when it answers; logged).
pub(crate) async fn audit_first(
    hooks: std::sync::Arc<dyn CallHooks>,
    actor: Actor,
    action: &'static str,
    call_id: &str,
) {
    let id = call_id.to_owned();
    let stored = tokio::spawn(async move { hooks.audit(&actor, action, &id).await });
    if tokio::time::timeout(AUDIT_FIRST, stored).await.is_err() {
        tracing::warn!(
            call_id,
            action,
            "audit entry still being stored; the operator goes ahead"
        );
    }
}

/// Who opened a browser session, as the audit log names them: the edge fills it in
/// from the session cookie or token it checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// The person's email, `token:<name>`, or `env:AUTH_TOKEN`.
    pub label: String,
    /// The person's user id.
    pub user_id: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

/// How the edge names the shared server-to-server token.
pub const ENV_TOKEN_LABEL: &str = "env:AUTH_TOKEN";

impl Actor {
    /// This actor, or one named `fallback` (the `operator=` of the query) when the edge
    /// named nobody. The shared token names no person, so the name given is kept beside
    /// it: `bob via env:AUTH_TOKEN`.
    pub fn or_named(&self, fallback: &str) -> Self {
        let label = if self.label.is_empty() {
            fallback.to_owned()
        } else if self.label == ENV_TOKEN_LABEL && fallback != "operator" {
            format!("{fallback} via {ENV_TOKEN_LABEL}")
        } else {
            return self.clone();
        };
        Self {
            label,
            ..self.clone()
        }
    }
}

/// Why an Agent Studio session was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StudioRefused {
    #[error("no agent profile named {0:?}")]
    UnknownProfile(String),
    #[error("lang must be nl, fr, de or en, not {0:?}")]
    BadLanguage(String),
    #[error("the store is unavailable: {0}")]
    Store(String),
}

/// What the browser asked Agent Studio for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Studio {
    pub profile: Option<String>,
    pub lang: Option<String>,
    pub campaign: Option<String>,
}
