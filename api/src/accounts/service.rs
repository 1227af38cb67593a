//! [`Accounts`]: turns a session cookie or an API token into a [`Principal`], signs
//! people in and out, and keeps what that needs (a short cache, the login budgets).
//!
//! Sessions, tokens and roles live in the store, shared by every appliance on it. A
//! check that found them valid is cached for [`CACHE_MS`], so a busy API client costs
//! one SHA-256 and a hash-map lookup per request; whatever ends access here (sign-out,
//! a revoked token, a disabled user, a changed role) empties the cache at once, and
//! another appliance on the same store notices within [`CACHE_MS`]. Lookups go by
//! SHA-256 digest: a timing difference would tell an attacker about a digest, not
//! about a secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{IntCounterVec, Opts};

use super::guard::LoginGuard;
use super::password;
use super::permissions::{BuiltinRole, Permission, Permissions};
use super::principal::{Principal, RequestInfo, Via};
use super::secret;
use crate::model::{now_millis, AuditEntry, Millis, Session, User};
use crate::store::{SharedStore, StoreError};

/// How long a successful check is reused.
pub const CACHE_MS: Millis = 2_000;
/// `last_seen_at` and `last_used_at` are written at most this often per session or
/// token.
pub const TOUCH_MS: Millis = 60_000;
/// Most cached checks; the cache is emptied when it is full.
const CACHE_MAX: usize = 10_000;

/// Session lifetimes (configuration `[accounts]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Why a credential was not accepted (the metric label; the client hears only 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No such session or token (or not shaped like one).
    Unknown,
    /// The session timed out, or the token expired or was revoked.
    Expired,
    /// Its user is disabled or gone.
    Disabled,
    /// The store could not be asked.
    Unavailable(String),
}

impl Denied {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<StoreError> for Denied {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::Unknown,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// Why a sign-in failed. Everything but the store being down answers the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    InvalidCredentials,
    Unavailable(String),
}

/// A clock in UTC milliseconds (tests move it by hand).
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

#[derive(Clone)]
struct Cached {
    principal: Arc<Principal>,
    at: Millis,
}

pub struct Accounts {
    store: SharedStore,
    settings: SessionSettings,
    clock: Clock,
    /// Successful checks by the SHA-256 of the credential.
    checked: Mutex<HashMap<[u8; 32], Cached>>,
    roles: Mutex<Option<(Millis, HashMap<String, Permissions>)>>,
    guard: LoginGuard,
    login_failures: IntCounterVec,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A successful sign-in: the person and the cookie value to set (once).
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub principal: Principal,
    pub cookie_value: String,
}

impl Accounts {
    #[allow(clippy::expect_used)]
    pub fn new(store: SharedStore, settings: SessionSettings) -> Self {
        // The name and label are constants: construction cannot fail.
        let login_failures = IntCounterVec::new(
            Opts::new(
                "agent5_login_failures_total",
                "Failed sign-ins by reason (unknown_user, bad_password, disabled, locked)",
            ),
            &["reason"],
        )
        .expect("valid metric");
        Self {
            store,
            settings,
            clock: Arc::new(now_millis),
            checked: Mutex::new(HashMap::new()),
            roles: Mutex::new(None),
            guard: LoginGuard::default(),
            login_failures,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.login_failures.clone()))
    }

    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    pub fn login_failures(&self) -> &IntCounterVec {
        &self.login_failures
    }

    /// Drops every cached check and role: the next request asks the store again.
    pub fn forget(&self) {
        if let Ok(mut c) = self.checked.lock() {
            c.clear();
        }
        if let Ok(mut r) = self.roles.lock() {
            *r = None;
        }
    }

    fn cached(&self, key: &[u8; 32], now: Millis) -> Option<Arc<Principal>> {
        let c = self.checked.lock().ok()?;
        c.get(key)
            .filter(|hit| now - hit.at < CACHE_MS)
            .map(|hit| Arc::clone(&hit.principal))
    }

    fn remember(&self, key: [u8; 32], principal: &Arc<Principal>, now: Millis) {
        if let Ok(mut c) = self.checked.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(
                key,
                Cached {
                    principal: Arc::clone(principal),
                    at: now,
                },
            );
        }
    }

    /// What a role allows: a built-in one, or one an admin added (`None`: no such
    /// role, which allows nothing).
    pub async fn permissions_of(&self, role: &str) -> Result<Option<Permissions>, StoreError> {
        if let Some(b) = BuiltinRole::by_name(role) {
            return Ok(Some(b.set()));
        }
        let now = self.now();
        if let Ok(r) = self.roles.lock() {
            if let Some((at, roles)) = r.as_ref() {
                if now - at < CACHE_MS {
                    return Ok(roles.get(role).copied());
                }
            }
        }
        let roles: HashMap<String, Permissions> = self
            .store
            .list_roles()
            .await?
            .into_iter()
            .map(|r| {
                let set = r
                    .permissions
                    .iter()
                    .filter_map(|p| p.parse::<Permission>().ok())
                    .collect();
                (r.name, set)
            })
            .collect();
        let found = roles.get(role).copied();
        if let Ok(mut r) = self.roles.lock() {
            *r = Some((now, roles));
        }
        Ok(found)
    }

    async fn active_user(&self, user_id: &str) -> Result<(User, Permissions), Denied> {
        let user = match self.store.get_user(user_id).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => return Err(Denied::Disabled),
            Err(e) => return Err(e.into()),
        };
        if !user.active {
            return Err(Denied::Disabled);
        }
        let perms = self
            .permissions_of(&user.role)
            .await
            .map_err(Denied::from)?
            .unwrap_or_default();
        Ok((user, perms))
    }

    /// The person behind a session cookie value.
    pub async fn session(&self, cookie_value: &str) -> Result<Arc<Principal>, Denied> {
        if !secret::is_session_id(cookie_value) {
            return Err(Denied::Unknown);
        }
        let key = secret::digest_bytes(cookie_value);
        let now = self.now();
        if let Some(p) = self.cached(&key, now) {
            return Ok(p);
        }
        let id_hash = secret::hex(&key);
        let session = self.store.get_session(&id_hash).await?;
        let idle = now - session.last_seen_at >= millis(self.settings.idle);
        let old = now - session.created_at >= millis(self.settings.absolute);
        if idle || old {
            self.store.delete_session(&id_hash).await?;
            return Err(Denied::Expired);
        }
        let (user, permissions) = match self.active_user(&session.user_id).await {
            Ok(found) => found,
            Err(Denied::Disabled) => {
                self.store.delete_session(&id_hash).await?;
                return Err(Denied::Disabled);
            }
            Err(e) => return Err(e),
        };
        if now - session.last_seen_at >= TOUCH_MS {
            self.store.touch_session(&id_hash, now).await?;
        }
        let principal = Arc::new(Principal {
            user_id: Some(user.id),
            email: Some(user.email),
            display_name: user.display_name,
            role: user.role,
            permissions,
            via: Via::Session {
                id_hash: id_hash.clone(),
            },
        });
        self.remember(key, &principal, now);
        Ok(principal)
    }

    /// The person behind an API token (`a5_...`), with at most the token's role.
    pub async fn token(&self, presented: &str) -> Result<Arc<Principal>, Denied> {
        if !secret::is_token(presented) {
            return Err(Denied::Unknown);
        }
        let key = secret::digest_bytes(presented);
        let now = self.now();
        if let Some(p) = self.cached(&key, now) {
            return Ok(p);
        }
        let digest = secret::hex(&key);
        let token = self.store.find_token_by_digest(&digest).await?;
        if !token.is_live(now) {
            return Err(Denied::Expired);
        }
        let (user, user_permissions) = self.active_user(&token.user_id).await?;
        let token_permissions = self
            .permissions_of(&token.role)
            .await
            .map_err(Denied::from)?
            .unwrap_or_default();
        if token.last_used_at.is_none_or(|at| now - at >= TOUCH_MS) {
            self.store.touch_token(&token.id, now).await?;
        }
        let principal = Arc::new(Principal {
            user_id: Some(user.id),
            email: Some(user.email),
            display_name: user.display_name,
            role: token.role,
            permissions: token_permissions.intersect(user_permissions),
            via: Via::Token {
                id: token.id,
                name: token.name,
            },
        });
        self.remember(key, &principal, now);
        Ok(principal)
    }

    /// Signs a person in: the login budget first (waiting as it says), then the
    /// password (a dummy hash when the email is unknown, so both cost the same), then
    /// a new session. Every failure is the same [`LoginError::InvalidCredentials`],
    /// counted and audited without the password.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &RequestInfo,
        user_agent: &str,
    ) -> Result<SignedIn, LoginError> {
        let account = User::email_key(email);
        let verdict = self.guard.assess(client.client_ip, &account, self.now());
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let user = match self.store.find_user_by_email(&account).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(LoginError::Unavailable(e.to_string())),
        };
        let matches = password::verify_off_thread(
            password.to_owned(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
        let failure = match &user {
            None => Some("unknown_user"),
            Some(_) if !matches => Some("bad_password"),
            Some(u) if !u.active => Some("disabled"),
            Some(_) if verdict.locked => Some("locked"),
            Some(_) => None,
        };
        let now = self.now();
        let actor = agent5_bridge::Actor {
            label: user
                .as_ref()
                .map_or_else(|| clip(email), |u| u.email.clone()),
            user_id: user.as_ref().map(|u| u.id.clone()),
            client_ip: Some(client.client_ip.to_string()),
            request_id: Some(client.request_id.clone()),
        };
        let audit_as =
            |action: &str, detail: String| AuditEntry::by(&actor, action, "session", detail);
        if let Some(reason) = failure {
            self.guard.failed(client.client_ip, &account, now);
            self.login_failures.with_label_values(&[reason]).inc();
            tracing::info!(
                request_id = %client.request_id,
                client_ip = %client.client_ip,
                reason,
                "sign-in refused"
            );
            let detail = serde_json::json!({ "reason": reason }).to_string();
            let _ = self
                .store
                .append_audit(audit_as("login.failure", detail))
                .await;
            return Err(LoginError::InvalidCredentials);
        }
        let Some(mut user) = user else {
            return Err(LoginError::InvalidCredentials);
        };
        self.guard.succeeded(&account);
        let cookie_value = secret::new_session_id();
        let session = Session {
            id_hash: secret::digest(&cookie_value),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            client_ip: client.client_ip.to_string(),
            user_agent: user_agent.chars().take(256).collect(),
        };
        let id_hash = session.id_hash.clone();
        self.store
            .create_session(session)
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        user.last_login_at = Some(now);
        // The last-login time is a courtesy: a concurrent edit of the user wins.
        if let Ok(updated) = self.store.update_user(user.clone()).await {
            user = updated;
        }
        let _ = self
            .store
            .append_audit(audit_as("login.success", String::new()))
            .await;
        let permissions = self
            .permissions_of(&user.role)
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?
            .unwrap_or_default();
        let principal = Principal {
            user_id: Some(user.id.clone()),
            email: Some(user.email.clone()),
            display_name: user.display_name.clone(),
            role: user.role.clone(),
            permissions,
            via: Via::Session { id_hash },
        };
        Ok(SignedIn {
            user,
            principal,
            cookie_value,
        })
    }

    /// Ends one session.
    pub async fn logout(&self, id_hash: &str) -> Result<(), StoreError> {
        self.store.delete_session(id_hash).await?;
        self.forget();
        Ok(())
    }

    /// Ends every session of a user but `keep`; returns how many ended.
    pub async fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let n = self.store.delete_user_sessions(user_id, keep).await?;
        self.forget();
        Ok(n)
    }

    /// Removes expired sessions from the store (run now and then).
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        self.store
            .purge_sessions(
                now - millis(self.settings.idle),
                now - millis(self.settings.absolute),
            )
            .await
    }
}

/// An email as typed, cut to a length fit for a log or audit line.
fn clip(email: &str) -> String {
    email.trim().chars().take(320).collect()
}
