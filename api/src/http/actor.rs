//! Who is acting, as the audit log names them: the principal the edge authenticated,
//! with the client's address and the request id.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::accounts::principal::{Caller, Principal, RequestInfo};
use crate::model::{now_millis, AuditEntry};

/// The acting person or token of a request (an extractor that never fails: a request
/// that reached a handler without the edge, as in the crate's own tests, acts as
/// `api`).
#[derive(Debug, Clone)]
pub struct Actor(pub agent5_bridge::Actor);

impl Actor {
    pub fn of(principal: Option<&Principal>, info: Option<&RequestInfo>) -> Self {
        Self(agent5_bridge::Actor {
            label: principal.map_or_else(|| "api".to_owned(), Principal::label),
            user_id: principal.and_then(|p| p.user_id.clone()),
            client_ip: info.map(|i| i.client_ip.to_string()),
            request_id: info.map(|i| i.request_id.clone()),
        })
    }

    pub fn label(&self) -> &str {
        &self.0.label
    }

    /// An audit entry for something this actor did now.
    pub fn entry(&self, action: &str, target: &str, detail: String) -> AuditEntry {
        AuditEntry::by(&self.0, action, target, detail)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<Caller>();
        let info = caller.map(|c| RequestInfo {
            client_ip: c.client_ip,
            request_id: request_id(parts),
            tls: c.tls,
        });
        Ok(Self::of(
            caller.and_then(|c| c.principal.as_deref()),
            info.as_ref(),
        ))
    }
}

impl AuditEntry {
    /// What `actor` did now.
    pub fn by(actor: &agent5_bridge::Actor, action: &str, target: &str, detail: String) -> Self {
        Self {
            at: now_millis(),
            actor: actor.label.clone(),
            actor_id: actor.user_id.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
            client_ip: actor.client_ip.clone(),
            request_id: actor.request_id.clone(),
        }
    }

    /// What the appliance itself (or its agent) did now.
    pub fn system(actor: &str, action: &str, target: &str, detail: String) -> Self {
        Self::by(
            &agent5_bridge::Actor {
                label: actor.to_owned(),
                ..agent5_bridge::Actor::default()
            },
            action,
            target,
            detail,
        )
    }
}

/// The request id the edge gave the request (`x-request-id`).
pub fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
