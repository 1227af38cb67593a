//! People and roles (`users.manage`): `/api/users`, `/api/users/{id}`,
//! `/api/users/{id}/password`, `/api/roles`. Every change is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::permissions::{BuiltinRole, Permission};
use super::routes::{
    audit, check_display_name, check_email, check_password, hash, role_permissions, SessionsEnded,
};
use crate::http::{Actor, ApiError, JsonBody};
use crate::model::{new_id, Millis, Role, User};
use crate::store::StoreError;
use crate::AppState;

/// A user as the API shows one (never the hash).
#[derive(Debug, Serialize)]
pub(super) struct UserView {
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

/// `GET /api/users`: everyone, by email.
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    role: String,
    password: String,
}

/// `POST /api/users` `{email, display_name?, role, password}`.
pub(super) async fn create(
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
pub(super) struct UserPatch {
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
pub(super) async fn update(
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
pub(super) struct ResetPassword {
    password: String,
}

/// `POST /api/users/{id}/password` `{password}`: an admin sets a new password; every
/// session of the user ends.
pub(super) async fn reset_password(
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
pub(super) struct RoleView {
    name: String,
    builtin: bool,
    permissions: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Roles {
    roles: Vec<RoleView>,
    /// Every permission a role may hold.
    permissions: Vec<Permission>,
}

/// `GET /api/roles`: the built-in roles, then those admins added.
pub(super) async fn list_roles(State(state): State<AppState>) -> Result<Json<Roles>, ApiError> {
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
pub(super) struct NewRole {
    name: String,
    permissions: Vec<String>,
}

/// `POST /api/roles` `{name, permissions}`: a role made of permissions from the list.
pub(super) async fn create_role(
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
pub(super) async fn delete_role(
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
