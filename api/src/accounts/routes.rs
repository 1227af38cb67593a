//! The accounts API: signing in and out (`/api/auth/*`), people (`/api/users`), roles
//! (`/api/roles`) and API tokens (`/api/tokens`). What each route needs is in
//! `crate::access`; every change here is audited with the actor.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::permissions::{BuiltinRole, Permission, Permissions};
use super::principal::{Caller, Principal, RequestInfo, Via};
use super::service::LoginError;
use super::{cookie, password, secret};
use crate::http::{Actor, ApiError, JsonBody, Params};
use crate::model::{new_id, ApiToken, Millis, Role, User};
use crate::store::StoreError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/password", post(change_password))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}", patch(update_user))
        .route("/api/users/{id}/password", post(reset_password))
        .route("/api/roles", get(list_roles).post(create_role))
        .route("/api/roles/{name}", delete(delete_role))
        .route("/api/tokens", get(list_tokens).post(create_token))
        .route("/api/tokens/{id}", delete(revoke_token))
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

/// A user as the API shows one (never the hash).
#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    email: String,
    display_name: String,
    role: String,
    active: bool,
    created_at: Millis,
    last_login_at: Option<Millis>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            active: u.active,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// The longest email accepted (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 100;

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

fn check_display_name(name: &str) -> Result<String, ApiError> {
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

fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    password::check_policy(password).map_err(|e| ApiError::invalid(e.code(), field, e.to_string()))
}

async fn hash(password: String) -> Result<String, ApiError> {
    password::hash_off_thread(password)
        .await
        .map_err(|e| ApiError::internal("password hashing failed", e.to_string()))
}

async fn role_permissions(state: &AppState, role: &str) -> Result<Permissions, ApiError> {
    state
        .accounts
        .permissions_of(role)
        .await?
        .ok_or_else(|| ApiError::invalid("unknown_role", "role", format!("no role named {role:?}")))
}

async fn audit(state: &AppState, actor: &Actor, action: &str, target: &str, detail: String) {
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
struct SessionsEnded {
    sessions_ended: u64,
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

/// `GET /api/users`: everyone, by email.
async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    role: String,
    password: String,
}

/// `POST /api/users` `{email, display_name?, role, password}`.
async fn create_user(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let email = check_email(&body.email)?;
    let display_name = match &body.display_name {
        Some(n) => check_display_name(n)?,
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    role_permissions(&state, &body.role).await?;
    check_password("password", &body.password)?;
    let user = User {
        id: new_id(),
        email,
        display_name,
        role: body.role,
        active: true,
        created_at: state.accounts.now(),
        last_login_at: None,
        password_hash: hash(body.password).await?,
        version: 0,
    };
    let user = state.store.create_user(user).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "a user with this email exists",
        )
        .with_field("email"),
        other => other.into(),
    })?;
    let detail = serde_json::json!({ "email": user.email, "role": user.role }).to_string();
    audit(&state, &actor, "user.create", &user.id, detail).await;
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

/// Whether `user` is the last active admin (who may not be disabled or demoted).
async fn is_last_admin(state: &AppState, user: &User) -> Result<bool, ApiError> {
    if user.role != BuiltinRole::Admin.name() || !user.active {
        return Ok(false);
    }
    let admins = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role == BuiltinRole::Admin.name())
        .count();
    Ok(admins <= 1)
}

/// `PATCH /api/users/{id}` `{display_name?, role?, active?}`: disabling a user ends
/// all their sessions at once; the last active admin cannot be disabled or demoted.
async fn update_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let mut user = state.store.get_user(&id).await?;
    let demoted = body.role.as_ref().is_some_and(|r| *r != user.role);
    let disabled = body.active == Some(false) && user.active;
    if (demoted || disabled) && is_last_admin(&state, &user).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_admin",
            "this is the last active admin: add another admin first",
        ));
    }
    if let Some(n) = &body.display_name {
        user.display_name = check_display_name(n)?;
    }
    if let Some(role) = &body.role {
        role_permissions(&state, role).await?;
        user.role.clone_from(role);
    }
    if let Some(active) = body.active {
        user.active = active;
    }
    let user = state.store.update_user(user).await?;
    if disabled {
        state.accounts.end_sessions(&user.id, None).await?;
    } else {
        state.accounts.forget();
    }
    let detail = serde_json::json!({
        "display_name": body.display_name, "role": body.role, "active": body.active,
    })
    .to_string();
    audit(&state, &actor, "user.update", &user.id, detail).await;
    Ok(Json(UserView::from(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    password: String,
}

/// `POST /api/users/{id}/password` `{password}`: an admin sets a new password; every
/// session of the user ends.
async fn reset_password(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResetPassword>,
) -> Result<Json<SessionsEnded>, ApiError> {
    check_password("password", &body.password)?;
    let mut user = state.store.get_user(&id).await?;
    user.password_hash = hash(body.password).await?;
    state.store.update_user(user).await?;
    let sessions_ended = state.accounts.end_sessions(&id, None).await?;
    audit(&state, &actor, "user.password.reset", &id, String::new()).await;
    Ok(Json(SessionsEnded { sessions_ended }))
}

#[derive(Serialize)]
struct RoleView {
    name: String,
    builtin: bool,
    permissions: Vec<String>,
}

#[derive(Serialize)]
struct Roles {
    roles: Vec<RoleView>,
    /// Every permission a role may hold.
    permissions: Vec<Permission>,
}

/// `GET /api/roles`: the built-in roles, then those admins added.
async fn list_roles(State(state): State<AppState>) -> Result<Json<Roles>, ApiError> {
    let mut roles: Vec<RoleView> = BuiltinRole::ALL
        .iter()
        .map(|r| RoleView {
            name: r.name().to_owned(),
            builtin: true,
            permissions: r
                .permissions()
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        })
        .collect();
    roles.extend(
        state
            .store
            .list_roles()
            .await?
            .into_iter()
            .map(|r| RoleView {
                name: r.name,
                builtin: false,
                permissions: r.permissions,
            }),
    );
    Ok(Json(Roles {
        roles,
        permissions: Permission::ALL.to_vec(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    permissions: Vec<String>,
}

/// `POST /api/roles` `{name, permissions}`: a role made of permissions from the list.
async fn create_role(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<NewRole>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let name = body.name.trim().to_owned();
    let well_formed = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "name",
            "a role name is 1 to 32 of a-z, 0-9, - and _",
        ));
    }
    if BuiltinRole::by_name(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "role_exists",
            format!("{name} is a built-in role"),
        )
        .with_field("name"));
    }
    let mut permissions = Vec::new();
    for p in &body.permissions {
        let parsed: Permission =
            p.parse()
                .map_err(|e: super::permissions::UnknownPermission| {
                    ApiError::invalid("unknown_permission", "permissions", e.to_string())
                })?;
        if !permissions.contains(&parsed) {
            permissions.push(parsed);
        }
    }
    permissions.sort();
    let role = Role {
        name,
        permissions: permissions.iter().map(|p| p.as_str().to_owned()).collect(),
        created_at: state.accounts.now(),
    };
    let role = state.store.create_role(role).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "role_exists",
            "a role with this name exists",
        )
        .with_field("name"),
        other => other.into(),
    })?;
    state.accounts.forget();
    let detail = serde_json::json!({ "permissions": role.permissions }).to_string();
    audit(&state, &actor, "role.create", &role.name, detail).await;
    Ok((
        StatusCode::CREATED,
        Json(RoleView {
            name: role.name,
            builtin: false,
            permissions: role.permissions,
        }),
    ))
}

/// `DELETE /api/roles/{name}`: only an added role no user or live token holds.
async fn delete_role(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if BuiltinRole::by_name(&name).is_some() {
        return Err(ApiError::invalid(
            "builtin_role",
            "name",
            "built-in roles cannot be deleted",
        ));
    }
    let now = state.accounts.now();
    let in_use = state
        .store
        .list_users()
        .await?
        .iter()
        .any(|u| u.role == name)
        || state
            .store
            .list_tokens(None)
            .await?
            .iter()
            .any(|t| t.role == name && t.is_live(now));
    if in_use {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "role_in_use",
            "users or tokens still have this role",
        ));
    }
    state.store.delete_role(&name).await?;
    state.accounts.forget();
    audit(&state, &actor, "role.delete", &name, String::new()).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A token as lists show it (never the secret or its digest).
#[derive(Serialize)]
struct TokenView {
    id: String,
    name: String,
    user_id: String,
    role: String,
    prefix: String,
    created_at: Millis,
    expires_at: Option<Millis>,
    last_used_at: Option<Millis>,
    revoked_at: Option<Millis>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            user_id: t.user_id,
            role: t.role,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// `GET /api/tokens`: the caller's tokens; `?all=1` every token (`users.manage`).
async fn list_tokens(
    State(state): State<AppState>,
    SignedIn(p): SignedIn,
    Params(params): Params,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let all = crate::http::flag(&params, "all")?.unwrap_or(false);
    if all && !p.can(Permission::UsersManage) {
        return Err(forbidden(Permission::UsersManage));
    }
    let user = if all { None } else { p.user_id.as_deref() };
    if user.is_none() && !all {
        return Ok(Json(Vec::new()));
    }
    let tokens = state.store.list_tokens(user).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

fn forbidden(p: Permission) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this needs the permission {p}"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    #[serde(default)]
    role: Option<String>,
    /// Days until it expires (1 to 3650); none: until revoked.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

#[derive(Serialize)]
struct CreatedToken {
    /// The secret: shown this once.
    token: String,
    #[serde(flatten)]
    view: TokenView,
}

/// `POST /api/tokens` `{name, role?, expires_in_days?}`: a token acting as the caller
/// with a role no higher than theirs; the secret is in this answer only.
async fn create_token(
    State(state): State<AppState>,
    SignedIn(p): SignedIn,
    actor: Actor,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let Some(user_id) = p.user_id.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_person",
            "tokens belong to people: sign in as one to create a token",
        ));
    };
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "name",
            "a token name is 1 to 64 printable characters",
        ));
    }
    let role = body.role.clone().unwrap_or_else(|| p.role.clone());
    let wanted = role_permissions(&state, &role).await?;
    if !wanted.is_subset(p.permissions) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_too_high",
            format!("the role {role} allows more than yours"),
        )
        .with_field("role"));
    }
    let now = state.accounts.now();
    let expires_at = match body.expires_in_days {
        None => None,
        Some(d @ 1..=3650) => Some(now + Millis::from(d) * 86_400_000),
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "expires_in_days",
                "expires_in_days must be 1 to 3650",
            ))
        }
    };
    let secret = secret::new_token();
    let token = ApiToken {
        id: new_id(),
        name,
        user_id,
        role,
        prefix: secret.chars().take(secret::VISIBLE).collect(),
        digest: secret::digest(&secret),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let token = state.store.create_token(token).await?;
    let detail =
        serde_json::json!({ "name": token.name, "role": token.role, "prefix": token.prefix })
            .to_string();
    audit(&state, &actor, "token.create", &token.id, detail).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            view: TokenView::from(token),
        }),
    ))
}

/// `DELETE /api/tokens/{id}`: revokes one of the caller's tokens (anyone's with
/// `users.manage`); refused from the next request on.
async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(p): SignedIn,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let token = state.store.get_token(&id).await?;
    let own = p.user_id.as_deref() == Some(token.user_id.as_str());
    if !own && !p.can(Permission::UsersManage) {
        // Someone else's token is not even confirmed to exist.
        return Err(StoreError::NotFound.into());
    }
    let token = state.store.revoke_token(&id, state.accounts.now()).await?;
    state.accounts.forget();
    let detail = serde_json::json!({ "name": token.name, "prefix": token.prefix }).to_string();
    audit(&state, &actor, "token.revoke", &token.id, detail).await;
    Ok(Json(TokenView::from(token)))
}
