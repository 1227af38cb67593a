//! Who a request acts as, once the edge checked its session cookie or token, and what
//! the edge knows about where it came from. Both travel to the handlers as request
//! extensions (the principal as an `Arc<Principal>`); the audit log names the
//! principal.

use std::net::IpAddr;

use super::permissions::{Permission, Permissions};

/// How the principal signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session; the hash is the session's key in the store.
    Session { id_hash: String },
    /// A person's API token.
    Token { id: String, name: String },
    /// The `AUTH_TOKEN` from the environment (server to server).
    EnvToken,
    /// Nothing: a route the configuration opens to everyone (recordings when
    /// `recordings.protect` is off).
    Anonymous,
}

/// A signed-in person, token or program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The person (absent for the environment token and anonymous access).
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub display_name: String,
    pub role: String,
    pub permissions: Permissions,
    pub via: Via,
}

/// The label the audit log and the live list show for the environment token.
pub const ENV_TOKEN_LABEL: &str = agent5_bridge::hooks::ENV_TOKEN_LABEL;

impl Principal {
    /// The seed's server-to-server token: every permission (one shared value: a
    /// request costs a reference count, not an allocation).
    pub fn env_token() -> std::sync::Arc<Self> {
        static ENV: std::sync::OnceLock<std::sync::Arc<Principal>> = std::sync::OnceLock::new();
        std::sync::Arc::clone(ENV.get_or_init(|| {
            std::sync::Arc::new(Self {
                user_id: None,
                email: None,
                display_name: ENV_TOKEN_LABEL.into(),
                role: "admin".into(),
                permissions: Permissions::all(),
                via: Via::EnvToken,
            })
        }))
    }

    /// Nobody, allowed `permissions` by the configuration.
    pub fn anonymous(permissions: Permissions) -> Self {
        Self {
            user_id: None,
            email: None,
            display_name: "anonymous".into(),
            role: String::new(),
            permissions,
            via: Via::Anonymous,
        }
    }

    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    /// How the audit log names the actor: the email, `token:<name>`, or
    /// `env:AUTH_TOKEN`.
    pub fn label(&self) -> String {
        match (&self.via, &self.email) {
            (Via::Token { name, .. }, _) => format!("token:{name}"),
            (Via::EnvToken, _) => ENV_TOKEN_LABEL.into(),
            (Via::Anonymous, _) => "anonymous".into(),
            (Via::Session { .. }, Some(email)) => email.clone(),
            (Via::Session { .. }, None) => "unknown".into(),
        }
    }

    /// The session's key, when the principal is a browser session.
    pub fn session_hash(&self) -> Option<&str> {
        match &self.via {
            Via::Session { id_hash } => Some(id_hash),
            _ => None,
        }
    }
}

/// What the edge attaches to every API request, as one extension: who it acts as,
/// where it came from, and whether it came over TLS (cookies are `Secure` and
/// `__Host-` then). The request id is the `x-request-id` header.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<std::sync::Arc<Principal>>,
    pub client_ip: IpAddr,
    pub tls: bool,
}

/// Where a sign-in came from: the client's address, the request id, TLS or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub client_ip: IpAddr,
    pub request_id: String,
    pub tls: bool,
}
