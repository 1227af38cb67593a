//! A person's API tokens: `/api/tokens` and `/api/tokens/{id}`. The secret is in the
//! creation's answer only; lists show its prefix.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::permissions::Permission;
use super::routes::{audit, role_permissions, SignedIn};
use super::secret;
use crate::http::{Actor, ApiError, JsonBody, Params};
use crate::model::{new_id, ApiToken, Millis};
use crate::store::StoreError;
use crate::AppState;

/// A token as lists show it (never the secret or its digest).
#[derive(Serialize)]
pub(super) struct TokenView {
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
pub(super) async fn list(
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
pub(super) struct NewToken {
    name: String,
    #[serde(default)]
    role: Option<String>,
    /// Days until it expires (1 to 3650); none: until revoked.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct CreatedToken {
    /// The secret: shown this once.
    token: String,
    #[serde(flatten)]
    view: TokenView,
}

/// `POST /api/tokens` `{name, role?, expires_in_days?}`: a token acting as the caller
/// with a role no higher than theirs; the secret is in this answer only.
pub(super) async fn create(
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
pub(super) async fn revoke(
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
