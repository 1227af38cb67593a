//! `/api/agents`: the Agent Studio profiles (what the voice agent says and how).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::http::{ApiError, JsonBody};
use crate::model::{new_id, now_millis, AgentProfile};
use crate::store::StoreError;
use crate::AppState;
use agent5_bridge::agent::Tool;

/// The voices of the OpenAI Realtime GA models.
pub const VOICES: [&str; 10] = [
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse",
];
pub const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];
/// Tools the appliance executes for the agent.
const MAX_NAME: usize = 100;
const MAX_INSTRUCTIONS: usize = 20_000;

/// Fields of a create (all required but `tools`) or a patch (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    name: Option<String>,
    instructions: Option<String>,
    voice: Option<String>,
    language: Option<String>,
    tools: Option<Vec<String>>,
}

fn validate(a: &AgentProfile) -> Result<(), ApiError> {
    let name = a.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(
            "invalid_agent",
            "name",
            format!("name must hold 1 to {MAX_NAME} characters"),
        ));
    }
    if a.instructions.trim().is_empty() || a.instructions.chars().count() > MAX_INSTRUCTIONS {
        return Err(ApiError::invalid(
            "invalid_agent",
            "instructions",
            format!("instructions must hold 1 to {MAX_INSTRUCTIONS} characters"),
        ));
    }
    if !VOICES.contains(&a.voice.as_str()) {
        return Err(ApiError::invalid(
            "invalid_agent",
            "voice",
            format!("voice must be one of {}", VOICES.join(", ")),
        ));
    }
    if !LANGUAGES.contains(&a.language.as_str()) {
        return Err(ApiError::invalid(
            "invalid_agent",
            "language",
            format!("language must be one of {}", LANGUAGES.join(", ")),
        ));
    }
    Ok(())
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { field } if field == "name" => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_name",
            "an agent profile with this name exists",
        )
        .with_field("name"),
        other => other.into(),
    }
}

/// The tools a body names, sorted by name; an unknown name is refused.
fn tools(names: Vec<String>) -> Result<Vec<Tool>, ApiError> {
    let mut tools = names
        .iter()
        .map(|n| {
            n.parse::<Tool>().map_err(|_| {
                let all: Vec<&str> = Tool::ALL.iter().map(|t| t.as_str()).collect();
                ApiError::invalid(
                    "invalid_agent",
                    "tools",
                    format!("unknown tool {n:?}; tools are {}", all.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    tools.sort_by_key(|t| t.as_str());
    tools.dedup();
    Ok(tools)
}

fn apply(a: &mut AgentProfile, b: AgentBody) -> Result<(), ApiError> {
    if let Some(v) = b.name {
        a.name = v.trim().to_owned();
    }
    if let Some(v) = b.instructions {
        a.instructions = v;
    }
    if let Some(v) = b.voice {
        a.voice = v;
    }
    if let Some(v) = b.language {
        a.language = v;
    }
    if let Some(v) = b.tools {
        a.tools = tools(v)?;
    }
    Ok(())
}

/// `GET /api/agents` (by name)
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AgentProfile>>, ApiError> {
    Ok(Json(state.store.list_agents().await?))
}

/// `GET /api/agents/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgentProfile>, ApiError> {
    Ok(Json(state.store.get_agent(&id).await?))
}

/// `POST /api/agents`: 201 with the profile.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(b): JsonBody<AgentBody>,
) -> Result<Response, ApiError> {
    for (field, missing) in [
        ("name", b.name.is_none()),
        ("instructions", b.instructions.is_none()),
        ("voice", b.voice.is_none()),
        ("language", b.language.is_none()),
    ] {
        if missing {
            return Err(ApiError::invalid(
                "invalid_agent",
                field,
                format!("{field} is required"),
            ));
        }
    }
    let now = now_millis();
    let mut agent = AgentProfile {
        id: new_id(),
        name: String::new(),
        instructions: String::new(),
        voice: String::new(),
        language: String::new(),
        tools: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    apply(&mut agent, b)?;
    validate(&agent)?;
    let created = state.store.create_agent(agent).await.map_err(conflict)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `PATCH /api/agents/{id}`
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AgentBody>,
) -> Result<Json<AgentProfile>, ApiError> {
    let mut agent = state.store.get_agent(&id).await?;
    apply(&mut agent, b)?;
    validate(&agent)?;
    agent.updated_at = now_millis().max(agent.updated_at);
    Ok(Json(
        state.store.update_agent(agent).await.map_err(conflict)?,
    ))
}

/// `DELETE /api/agents/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_agent(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
