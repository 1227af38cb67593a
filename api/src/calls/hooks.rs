//! The bridge's hooks: media-stream authorisation against the call's stored token
//! hash, transcript turns and recordings stored with the call, the agent's tools
//! (opt-out, language confirmation, end of call, transfer) and hang-ups through Call
//! Control.

use std::sync::Arc;

use agent5_bridge::agent::AgentProfile as BridgeProfile;
use agent5_bridge::agent::{ToolCall, ToolError};
use agent5_bridge::call::core::TurnRecord;
use agent5_bridge::g711::Codec;
use agent5_bridge::hooks::StudioRefused;
use agent5_bridge::recording::RecordingInfo;
use agent5_bridge::{CallHooks, MediaAuthError, MediaCall, Studio};
use async_trait::async_trait;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::calls::{state, token_hash, Telephony};
use crate::model::{
    new_id, now_millis, AuditEntry, Call, CallFacts, Customer, Direction, DncEntry, DncSource,
    RecordingMeta, Turn,
};
use crate::store::StoreError;

pub struct Hooks {
    telephony: Arc<Telephony>,
    /// Copies finished recordings' last audio into the store (several appliances).
    copies: Option<Arc<crate::cluster::recordings::RecordingCopies>>,
}

impl Hooks {
    pub fn new(telephony: Arc<Telephony>) -> Self {
        Self {
            telephony,
            copies: None,
        }
    }

    /// Finished recordings are copied into the store in full before they are linked
    /// to their call.
    #[must_use]
    pub fn with_copies(mut self, copies: Arc<crate::cluster::recordings::RecordingCopies>) -> Self {
        self.copies = Some(copies);
        self
    }

    async fn profile(&self, name: Option<&str>, lang: Option<&str>) -> BridgeProfile {
        let mut profile = BridgeProfile::default();
        if let Some(name) = name {
            match self.telephony.store.list_agents().await {
                Ok(agents) => {
                    if let Some(a) = agents.into_iter().find(|a| a.name == name || a.id == name) {
                        profile = BridgeProfile {
                            instructions: a.instructions,
                            voice: a.voice,
                            language: a.language,
                            tools: a.tools,
                        };
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "agent profiles unavailable; using the default")
                }
            }
        }
        if let Some(l) = lang {
            profile.language = l.to_owned();
        }
        profile
    }

    /// Sets the language of the call's contact (the invoice contact or the delivery
    /// whose phone is the call's) and marks it confirmed.
    async fn confirm_language(&self, call_id: &str, language: &str) -> Result<Value, String> {
        let store = &self.telephony.store;
        let call = store.get_call(call_id).await.map_err(|e| e.to_string())?;
        let Some(customer_id) = call.customer_id.clone() else {
            return Err("this call is not linked to a prospect".into());
        };
        for _ in 0..5 {
            let mut c: Customer = store
                .get_customer(&customer_id)
                .await
                .map_err(|e| e.to_string())?;
            let phone = Some(call.phone.clone());
            let contact = if c.invoice.phone == phone || c.invoice.mobile == phone {
                &mut c.invoice
            } else if let Some(d) = c
                .delivery_addresses
                .iter_mut()
                .find(|d| d.contact.phone == phone || d.contact.mobile == phone)
            {
                &mut d.contact
            } else {
                &mut c.invoice
            };
            contact.language = language.to_owned();
            contact.language_confirmed = true;
            match store.replace_customer(c).await {
                Ok(_) => return Ok(json!({"ok": true, "language": language})),
                Err(StoreError::Conflict { field }) if field == "version" => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the prospect kept changing; try again".into())
    }

    async fn opt_out(&self, call_id: &str, reason: Option<&str>) -> Result<Value, String> {
        let store = &self.telephony.store;
        let call = store.get_call(call_id).await.map_err(|e| e.to_string())?;
        let reason = reason
            .unwrap_or("asked during the call")
            .chars()
            .take(500)
            .collect::<String>();
        store
            .add_dnc(vec![DncEntry {
                phone_e164: call.phone.clone(),
                reason: reason.clone(),
                source: DncSource::Call,
                added_by: "agent".into(),
                added_at: now_millis(),
            }])
            .await
            .map_err(|e| e.to_string())?;
        let _ = store
            .append_audit(AuditEntry::system(
                "agent",
                "dnc.add",
                &call.phone,
                format!("call {call_id}: {reason}"),
            ))
            .await;
        self.mark(call_id, |f| f.opted_out_in_call = true).await;
        Ok(json!({"ok": true, "phone": call.phone}))
    }

    /// The agent's `set_outcome`: a category the call's campaign defines (refused
    /// otherwise, with the list, so the agent can correct itself), kept on the call.
    async fn set_outcome(
        &self,
        call_id: &str,
        category: &str,
        note: Option<&str>,
    ) -> Result<Value, String> {
        let store = &self.telephony.store;
        let call = store.get_call(call_id).await.map_err(|e| e.to_string())?;
        let Some(campaign_id) = call.campaign_id.as_deref() else {
            return Err("this call is not part of a campaign; no outcome is recorded".into());
        };
        let campaign = store
            .get_campaign(campaign_id)
            .await
            .map_err(|e| e.to_string())?;
        let allowed = outcome_categories(&campaign);
        if !allowed.iter().any(|c| c == category) {
            return Err(format!(
                "unknown category {category:?}; use one of {}",
                allowed.join(", ")
            ));
        }
        let (category, note) = (category.to_owned(), note.map(str::to_owned));
        self.mark(call_id, |f| {
            f.outcome = Some(category.clone());
            f.outcome_note.clone_from(&note);
        })
        .await;
        Ok(json!({"ok": true, "outcome": category}))
    }

    /// Tells an agent that may `set_outcome` which categories its campaign defines.
    async fn tell_outcomes(&self, profile: &mut BridgeProfile, campaign_id: &str) {
        if !profile
            .tools
            .contains(&agent5_bridge::agent::Tool::SetOutcome)
        {
            return;
        }
        let Ok(campaign) = self.telephony.store.get_campaign(campaign_id).await else {
            return;
        };
        let categories = outcome_categories(&campaign);
        if !categories.is_empty() {
            profile.instructions.push_str(&format!(
                "\n\nBefore the call ends, record its outcome with set_outcome, one of: {}.",
                categories.join(", ")
            ));
        }
    }

    /// Records a fact about the call that decides its campaign disposition.
    async fn mark(&self, call_id: &str, set: impl Fn(&mut CallFacts)) {
        if let Err(e) = self.telephony.update(call_id, |c| set(&mut c.facts)).await {
            tracing::warn!(call_id, error = %e, "call fact not stored");
        }
    }

    async fn transfer(&self, call_id: &str) -> Result<Value, String> {
        let t = &self.telephony;
        let Some(to) = t.settings.transfer_to.clone() else {
            return Err("no transfer number is configured".into());
        };
        let call = t.store.get_call(call_id).await.map_err(|e| e.to_string())?;
        let (Some(client), Some(ccid)) = (t.client(), call.call_control_id.as_deref()) else {
            return Err("the call cannot be transferred (no carrier connection)".into());
        };
        let from = t.settings.from_number.clone().unwrap_or_default();
        client
            .transfer(ccid, &to, &from)
            .await
            .map_err(|e| e.to_string())?;
        self.mark(call_id, |f| f.transferred = true).await;
        Ok(json!({"ok": true, "transferred_to": to}))
    }
}

#[async_trait]
impl CallHooks for Hooks {
    async fn authorize_media(
        &self,
        call_id: &str,
        token: Option<&str>,
    ) -> Result<MediaCall, MediaAuthError> {
        let call = match self.telephony.store.get_call(call_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(MediaAuthError::UnknownCall),
            Err(_) => return Err(MediaAuthError::Unavailable),
        };
        let token = token.ok_or(MediaAuthError::MissingToken)?;
        let stored = call.stream_token_hash.as_deref().unwrap_or_default();
        let presented = token_hash(token);
        if stored.is_empty() || !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
            return Err(MediaAuthError::WrongToken);
        }
        if !call.status.is_live() {
            return Err(MediaAuthError::Ended);
        }
        let at = now_millis();
        self.mark(&call.id, |f| {
            f.media_connected_at.get_or_insert(at);
        })
        .await;
        let codec = Codec::parse(&self.telephony.settings.codec).unwrap_or(Codec::Pcmu);
        let mut profile = self
            .profile(call.agent_profile.as_deref(), call.facts.lang.as_deref())
            .await;
        if let Some(campaign_id) = call.campaign_id.as_deref() {
            self.tell_outcomes(&mut profile, campaign_id).await;
        }
        Ok(MediaCall {
            profile,
            greet: call.direction == Direction::Outbound,
            call_id: call.id.into(),
            codec,
        })
    }

    async fn turn(&self, call_id: &str, turn: TurnRecord) {
        let stored = Turn {
            seq: 0,
            role: turn.role.into(),
            text: turn.text,
            start_ms: turn.start_ms,
            end_ms: turn.end_ms,
            interrupted: turn.interrupted,
        };
        match self.telephony.store.append_turn(call_id, stored).await {
            Ok(_) => self.telephony.changed(call_id),
            Err(e) => tracing::warn!(call_id, error = %e, "transcript turn not stored"),
        }
    }

    async fn tool(&self, call_id: &str, call: &ToolCall) -> Result<Value, ToolError> {
        tracing::info!(call_id, tool = %call.tool(), "agent tool");
        match call {
            ToolCall::OptOut { reason } => self.opt_out(call_id, reason.as_deref()).await,
            ToolCall::ConfirmLanguage { language } => {
                self.confirm_language(call_id, language).await
            }
            ToolCall::EndCall => {
                Ok(json!({"ok": true, "note": "say goodbye now; the call ends after it"}))
            }
            ToolCall::Transfer => self.transfer(call_id).await,
            ToolCall::SetOutcome { category, note } => {
                self.set_outcome(call_id, category, note.as_deref()).await
            }
        }
        .map_err(ToolError::Failed)
    }

    async fn hangup(&self, call_id: &str, reason: &str) {
        let t = &self.telephony;
        let reason = reason.to_owned();
        let call = match t
            .update(call_id, |c| {
                c.facts
                    .hangup_requested
                    .get_or_insert_with(|| reason.clone());
            })
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(call_id, error = %e, "hang-up: call not found");
                return;
            }
        };
        if let (Some(client), Some(ccid)) = (t.client(), call.call_control_id.as_deref()) {
            if let Err(e) = client.hangup(ccid).await {
                tracing::warn!(call_id, error = %e, "hang-up failed");
            }
        }
    }

    async fn audit(&self, actor: &agent5_bridge::Actor, action: &str, call_id: &str) {
        let entry = AuditEntry::by(actor, action, call_id, String::new());
        if let Err(e) = self.telephony.store.append_audit(entry).await {
            tracing::warn!(call_id, error = %e, "audit entry not stored");
        }
        if action == "call.takeover" {
            self.mark(call_id, |f| f.taken_over = true).await;
        }
    }

    async fn studio_started(&self, studio: &Studio) -> Result<MediaCall, StudioRefused> {
        let unavailable = |e: StoreError| StudioRefused::Store(e.to_string());
        if let Some(name) = &studio.profile {
            let agents = self
                .telephony
                .store
                .list_agents()
                .await
                .map_err(unavailable)?;
            if !agents.iter().any(|a| &a.name == name || &a.id == name) {
                return Err(StudioRefused::UnknownProfile(name.clone()));
            }
        }
        if let Some(l) = &studio.lang {
            if !agent5_bridge::agent::tools::LANGUAGES.contains(&l.as_str()) {
                return Err(StudioRefused::BadLanguage(l.clone()));
            }
        }
        let now = now_millis();
        let mut call = Call {
            campaign_id: studio.campaign.clone(),
            agent_profile: studio.profile.clone(),
            answered_at: Some(now),
            facts: CallFacts {
                lang: studio.lang.clone(),
                initiated_at: Some(now),
                streaming_started_at: Some(now),
                ..CallFacts::default()
            },
            owner: Some(self.telephony.settings.identity.owner()),
            ..Call::new(new_id(), Direction::Studio, String::new(), now)
        };
        state::refresh(&mut call);
        let call = self
            .telephony
            .store
            .create_call(call)
            .await
            .map_err(unavailable)?;
        Ok(MediaCall {
            profile: self
                .profile(studio.profile.as_deref(), studio.lang.as_deref())
                .await,
            greet: false,
            call_id: call.id.into(),
            codec: Codec::Pcmu,
        })
    }

    async fn studio_ended(&self, call_id: &str) {
        let now = now_millis();
        let ended = self
            .telephony
            .update(call_id, |c| {
                if c.ended_at.is_none() {
                    c.ended_at = Some(now);
                    c.hangup_cause = Some("normal_clearing".into());
                    c.facts.streaming_stopped_at = Some(now);
                    state::refresh(c);
                }
            })
            .await;
        if let Err(e) = ended {
            tracing::warn!(call_id, error = %e, "studio session end not stored");
        }
    }

    async fn recording_saved(&self, call_id: &str, recording: &RecordingInfo) {
        if let Some(copies) = &self.copies {
            copies.finish(call_id).await;
        }
        let meta = RecordingMeta {
            location: recording
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned(),
            format: "audio/wav; codec=ulaw; channels=2 (caller, agent)".into(),
            bytes: recording.bytes,
            duration_ms: recording.duration_ms(),
        };
        if let Err(e) = self
            .telephony
            .update(call_id, |c| c.recording = Some(meta.clone()))
            .await
        {
            tracing::error!(call_id, error = %e, "recording not linked to its call");
        }
    }
}

/// The outcome categories a campaign defines (its `dialer.outcomes`).
fn outcome_categories(c: &crate::model::Campaign) -> Vec<String> {
    serde_json::from_value::<crate::campaigns::settings::Pacing>(c.dialer.clone())
        .map(|p| p.outcomes)
        .unwrap_or_default()
}
