//! The accounts API: signing in and out and one's own password (`/api/auth/*`, here),
//! people and roles (`users.rs`), API tokens (`tokens.rs`), and what they share: the
//! extractors for the signed-in principal and the client, the input checks, the audit
//! line. What each route needs is in `crate::access`; every change is audited.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::permissions::{Permission, Permissions};
use super::principal::{Caller, Principal, RequestInfo, Via};
use super::service::LoginError;
use super::{cookie, password, tokens, users};
use crate::http::{Actor, ApiError, JsonBody};
use crate::store::StoreError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/password", post(change_password))
        .route("/api/users", get(users::list).post(users::create))
        .route("/api/users/{id}", patch(users::update))
        .route("/api/users/{id}/password", post(users::reset_password))
        .route(
            "/api/roles",
            get(users::list_roles).post(users::create_role),
        )
        .route("/api/roles/{name}", delete(users::delete_role))
        .route("/api/tokens", get(tokens::list).post(tokens::create))
        .route("/api/tokens/{id}", delete(tokens::revoke))
}

/// The principal the edge authenticated; 401 without one.
pub struct SignedIn(pub std::sync::Arc<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .and_then(|c| c.principal.clone())
            .map(Self)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first"))
    }
}

/// What the edge knows about the request (defaults when called without it).
struct Client(RequestInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<Caller>();
        Ok(Self(RequestInfo {
            client_ip: caller.map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
                c.client_ip
            }),
            request_id: crate::http::request_id(parts),
            tls: caller.is_some_and(|c| c.tls),
        }))
    }
}

/// The longest email accepted (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
pub(super) const MAX_NAME: usize = 100;

/// A trimmed email with one `@`, something on each side, no spaces or controls.
pub fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = email.len() <= MAX_EMAIL
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email.to_owned())
    } else {
        Err(ApiError::invalid(
            "invalid_email",
            "email",
            "email must be an address like name@example.com (at most 254 bytes)",
        ))
    }
}

pub(super) fn check_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "display_name",
            format!("display_name is limited to {MAX_NAME} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

pub(super) fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    password::check_policy(password).map_err(|e| ApiError::invalid(e.code(), field, e.to_string()))
}

pub(super) async fn hash(password: String) -> Result<String, ApiError> {
    password::hash_off_thread(password)
        .await
        .map_err(|e| ApiError::internal("password hashing failed", e.to_string()))
}

pub(super) async fn role_permissions(
    state: &AppState,
    role: &str,
) -> Result<Permissions, ApiError> {
    state
        .accounts
        .permissions_of(role)
        .await?
        .ok_or_else(|| ApiError::invalid("unknown_role", "role", format!("no role named {role:?}")))
}

pub(super) async fn audit(
    state: &AppState,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: String,
) {
    if let Err(e) = state
        .store
        .append_audit(actor.entry(action, target, detail))
        .await
    {
        tracing::warn!(action, error = %e, "audit entry not stored");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct Me {
    user: MeUser,
    role: String,
    permissions: Vec<Permission>,
    /// `session`, `token` or `env`.
    via: &'static str,
}

#[derive(Serialize)]
struct MeUser {
    id: Option<String>,
    email: Option<String>,
    display_name: String,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Self {
            user: MeUser {
                id: p.user_id.clone(),
                email: p.email.clone(),
                display_name: p.display_name.clone(),
            },
            role: p.role.clone(),
            permissions: p.permissions.iter().collect(),
            via: match p.via {
                Via::Session { .. } => "session",
                Via::Token { .. } => "token",
                Via::EnvToken => "env",
                Via::Anonymous => "anonymous",
            },
        }
    }
}

/// `POST /api/auth/login` `{email, password}`: a session cookie and who signed in.
/// Wrong email, wrong password, a disabled account and a locked one all answer 401
/// `invalid_credentials`.
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    if body.password.len() > password::MAX_BYTES || body.email.len() > 1024 {
        return Err(invalid_credentials());
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed_in = match state
        .accounts
        .login(&body.email, &body.password, &client, user_agent)
        .await
    {
        Ok(s) => s,
        Err(LoginError::InvalidCredentials) => return Err(invalid_credentials()),
        Err(LoginError::Unavailable(e)) => {
            return Err(ApiError::from(StoreError::Unavailable(e)));
        }
    };
    let max_age = state.accounts.settings().absolute.as_secs();
    let cookie = cookie::set(&signed_in.cookie_value, client.tls, max_age);
    let mut res = Json(Me::from(&signed_in.principal)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or the password is wrong",
    )
}

/// `POST /api/auth/logout`: ends this session (a token stays valid: revoke it).
async fn logout(
    State(state): State<AppState>,
    SignedIn(p): SignedIn,
    actor: Actor,
    Client(client): Client,
) -> Result<Response, ApiError> {
    if let Some(hash) = p.session_hash() {
        state.accounts.logout(hash).await?;
    }
    audit(&state, &actor, "logout", "session", String::new()).await;
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(client.tls)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// `GET /api/auth/me`: who this is, their role and permissions.
async fn me(SignedIn(p): SignedIn) -> Json<Me> {
    Json(Me::from(p.as_ref()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
pub(super) struct SessionsEnded {
    pub(super) sessions_ended: u64,
}

/// `POST /api/auth/password` `{current_password, new_password}`: a person changes
/// their own password; their other sessions end.
async fn change_password(
    State(state): State<AppState>,
    SignedIn(p): SignedIn,
    actor: Actor,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let Some(user_id) = p.user_id.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_person",
            "only a person signed in has a password to change",
        ));
    };
    check_password("new_password", &body.new_password)?;
    let mut user = state.store.get_user(&user_id).await?;
    let current_ok = body.current_password.len() <= password::MAX_BYTES
        && password::verify_off_thread(body.current_password, Some(user.password_hash.clone()))
            .await;
    if !current_ok {
        return Err(ApiError::invalid(
            "invalid_credentials",
            "current_password",
            "the current password is wrong",
        ));
    }
    user.password_hash = hash(body.new_password).await?;
    state.store.update_user(user).await?;
    let sessions_ended = state
        .accounts
        .end_sessions(&user_id, p.session_hash())
        .await?;
    audit(
        &state,
        &actor,
        "user.password.change",
        &user_id,
        String::new(),
    )
    .await;
    Ok(Json(SessionsEnded { sessions_ended }))
}
