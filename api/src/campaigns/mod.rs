//! `/api/campaigns`: create, edit and delete a draft; its lifecycle
//! `draft -> scheduled -> running <-> paused -> completed | stopped` through `start`,
//! `pause`, `resume` and `stop`, each audited with the person who did it. Every
//! change is a version-checked write, so two operators (or two appliances on one
//! MongoDB) acting at once get one success and one 409, never a mixed state.

pub mod settings;
pub mod stats;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dialer::window::{CallingWindows, ScheduleInput};
use crate::dialer::zones::zone_names_of_country;
use crate::http::{Actor, ApiError, JsonBody};
use crate::model::{new_id, now_millis, Campaign};
use crate::store::StoreError;
use crate::AppState;
use settings::{Audience, Pacing};

const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/campaigns", get(list).post(create))
        .route("/api/campaigns/{id}", get(one).patch(update).delete(delete))
        .route("/api/campaigns/{id}/preview", get(preview))
        .route("/api/campaigns/{id}/stats", get(stats::stats))
        .route("/api/campaigns/{id}/events", get(stats::events))
        .route("/api/campaigns/{id}/attempts", get(stats::attempts))
        .route("/api/campaigns/{id}/attempts.csv", get(stats::export))
        .route("/api/campaigns/{id}/start", post(start))
        .route("/api/campaigns/{id}/pause", post(pause))
        .route("/api/campaigns/{id}/resume", post(resume))
        .route("/api/campaigns/{id}/stop", post(stop))
}

/// `POST /api/campaigns/{id}/start`
async fn start(
    s: State<AppState>,
    a: Actor,
    id: Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    transition(s, a, id, "start").await
}

/// `POST /api/campaigns/{id}/pause`
async fn pause(
    s: State<AppState>,
    a: Actor,
    id: Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    transition(s, a, id, "pause").await
}

/// `POST /api/campaigns/{id}/resume`
async fn resume(
    s: State<AppState>,
    a: Actor,
    id: Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    transition(s, a, id, "resume").await
}

/// `POST /api/campaigns/{id}/stop`
async fn stop(
    s: State<AppState>,
    a: Actor,
    id: Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    transition(s, a, id, "stop").await
}

/// A campaign's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
    Stopped,
}

impl Status {
    pub const ALL: [Self; 6] = [
        Self::Draft,
        Self::Scheduled,
        Self::Running,
        Self::Paused,
        Self::Completed,
        Self::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What an action does from each state; `None`: refused.
/// `start` goes to `scheduled` while the campaign's first date is still ahead.
pub fn next(status: Status, action: &str, starts_later: bool) -> Option<Status> {
    use Status::*;
    let on = if starts_later { Scheduled } else { Running };
    match (action, status) {
        ("start", Draft) => Some(on),
        ("pause", Scheduled | Running) => Some(Paused),
        ("resume", Paused) => Some(on),
        ("stop", Draft | Scheduled | Running | Paused) => Some(Stopped),
        _ => None,
    }
}

/// A create (name required) or a draft's patch (what is given changes).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    name: Option<String>,
    description: Option<String>,
    agent_profile: Option<String>,
    audience: Option<Value>,
    schedule: Option<Value>,
    dialer: Option<Value>,
}

/// The campaign as the API shows it: its settings with every default filled in.
#[derive(Debug, Serialize)]
pub struct CampaignView {
    id: String,
    name: String,
    description: String,
    status: String,
    agent_profile: Option<String>,
    audience: Value,
    schedule: Value,
    dialer: Value,
    created_at: i64,
    updated_at: i64,
    version: i64,
    /// Why the dialler paused it by itself, until someone resumes it.
    paused_reason: Option<String>,
}

impl From<Campaign> for CampaignView {
    fn from(c: Campaign) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            status: c.status,
            agent_profile: (!c.script_profile.is_empty()).then_some(c.script_profile),
            audience: c.audience,
            schedule: c.schedule,
            dialer: c.dialer,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
            paused_reason: c.paused_reason,
        }
    }
}

/// The appliance's own zone: the first of its region's (`Europe/Brussels` for BE).
fn default_zone(state: &AppState) -> &'static str {
    zone_names_of_country(state.region.iso())
        .first()
        .copied()
        .unwrap_or("UTC")
}

/// Parses a section with the error naming it when its shape is wrong.
fn section<T: serde::de::DeserializeOwned>(name: &str, v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::invalid("invalid_campaign", name, format!("{name}: {e}")))
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Applies a body to a campaign, checking every section it names.
async fn apply(state: &AppState, c: &mut Campaign, b: CampaignBody) -> Result<(), ApiError> {
    if let Some(name) = b.name {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ApiError::invalid(
                "invalid_campaign",
                "name",
                format!("name must hold 1 to {MAX_NAME} characters"),
            ));
        }
        c.name = name;
    }
    if let Some(d) = b.description {
        if d.chars().count() > MAX_DESCRIPTION {
            return Err(ApiError::invalid(
                "invalid_campaign",
                "description",
                format!("description holds at most {MAX_DESCRIPTION} characters"),
            ));
        }
        c.description = d;
    }
    if let Some(profile) = b.agent_profile {
        let profile = profile.trim().to_owned();
        if !profile.is_empty() {
            let known = state.store.list_agents().await?;
            if !known.iter().any(|a| a.name == profile || a.id == profile) {
                return Err(ApiError::invalid(
                    "unknown_agent_profile",
                    "agent_profile",
                    format!("no agent profile is called {profile:?}"),
                ));
            }
        }
        c.script_profile = profile;
    }
    if let Some(v) = b.audience {
        let defs = state.store.list_field_defs().await?;
        let audience: Audience = section("audience", v)?;
        c.audience = to_value(&audience.checked(&defs)?);
    }
    if let Some(v) = b.schedule {
        let input: ScheduleInput = section("schedule", v)?;
        CallingWindows::parse(&input, default_zone(state))
            .map_err(|e| ApiError::invalid("invalid_campaign", e.field, e.message))?;
        c.schedule = to_value(&input);
    }
    if let Some(v) = b.dialer {
        let pacing: Pacing = section("dialer", v)?;
        c.dialer = to_value(&pacing.checked()?);
    }
    Ok(())
}

/// The audit detail of a create or edit: the name, and the legal-hours override when set.
fn detail(c: &Campaign) -> String {
    if c.schedule["allow_outside_legal_hours"] == Value::Bool(true) {
        format!("{} (allow_outside_legal_hours)", c.name)
    } else {
        c.name.clone()
    }
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { field } if field == "name" => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_name",
            "a campaign with this name exists",
        )
        .with_field("name"),
        StoreError::Conflict { field } if field == "version" => ApiError::new(
            StatusCode::CONFLICT,
            "changed_meanwhile",
            "the campaign changed meanwhile: read it again",
        )
        .with_field("version"),
        other => other.into(),
    }
}

fn not_editable(c: &Campaign) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_a_draft",
        format!(
            "a {} campaign cannot be changed: only drafts are edited or deleted",
            c.status
        ),
    )
    .with_field("status")
}

/// `GET /api/campaigns` (newest first)
async fn list(State(state): State<AppState>) -> Result<Json<Vec<CampaignView>>, ApiError> {
    let all = state.store.list_campaigns().await?;
    Ok(Json(all.into_iter().map(CampaignView::from).collect()))
}

/// `GET /api/campaigns/{id}`
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    Ok(Json(state.store.get_campaign(&id).await?.into()))
}

/// `POST /api/campaigns`: 201 with the draft, every section defaulted and checked.
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(b): JsonBody<CampaignBody>,
) -> Result<Response, ApiError> {
    if b.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid(
            "invalid_campaign",
            "name",
            "name is required",
        ));
    }
    let now = now_millis();
    let mut c = Campaign {
        id: new_id(),
        name: String::new(),
        description: String::new(),
        status: Status::Draft.as_str().to_owned(),
        audience: to_value(&Audience::default()),
        schedule: to_value(&ScheduleInput::default()),
        dialer: to_value(&Pacing::default()),
        script_profile: String::new(),
        created_at: now,
        updated_at: now,
        version: 0,
        paused_reason: None,
    };
    apply(&state, &mut c, b).await?;
    let c = state.store.create_campaign(c).await.map_err(conflict)?;
    state
        .store
        .append_audit(actor.entry("campaign.create", &c.id, detail(&c)))
        .await?;
    Ok((StatusCode::CREATED, Json(CampaignView::from(c))).into_response())
}

/// `PATCH /api/campaigns/{id}`: a draft only.
async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CampaignBody>,
) -> Result<Json<CampaignView>, ApiError> {
    let mut c = state.store.get_campaign(&id).await?;
    if c.status != Status::Draft.as_str() {
        return Err(not_editable(&c));
    }
    apply(&state, &mut c, b).await?;
    let c = state.store.update_campaign(c).await.map_err(conflict)?;
    state
        .store
        .append_audit(actor.entry("campaign.update", &c.id, detail(&c)))
        .await?;
    Ok(Json(c.into()))
}

/// `DELETE /api/campaigns/{id}`: a draft only (the store checks it is still one).
async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.store.delete_draft_campaign(&id).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(not_editable(&state.store.get_campaign(&id).await?));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .store
        .append_audit(actor.entry("campaign.delete", &id, String::new()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Customers read per store round trip while previewing.
const PREVIEW_PAGE: u64 = 500;
/// Contacts shown as a sample.
const PREVIEW_SAMPLE: usize = 20;
/// A preview stops reading after this long and says it is incomplete.
const PREVIEW_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Serialize)]
struct PreviewContact {
    customer_id: String,
    code: Option<String>,
    name: String,
    phone: String,
    language: String,
}

#[derive(Debug, Serialize)]
struct Preview {
    /// Contacts the campaign would call now (audience, a number, not opted out).
    matching: u64,
    /// Contacts of the audience whose number is on the do-not-call list.
    opted_out: u64,
    customers_read: u64,
    /// `false` when the time budget ran out first: the counts are then lower bounds.
    complete: bool,
    sample: Vec<PreviewContact>,
}

/// `GET /api/campaigns/{id}/preview`: how many contacts the audience holds now and a
/// sample, read through every customer (in id order, 500 at a time, at most 10 s).
async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Preview>, ApiError> {
    let c = state.store.get_campaign(&id).await?;
    let audience: Audience = serde_json::from_value(c.audience).unwrap_or_default();
    let started = std::time::Instant::now();
    let mut out = Preview {
        matching: 0,
        opted_out: 0,
        customers_read: 0,
        complete: true,
        sample: Vec::new(),
    };
    let mut after: Option<String> = None;
    loop {
        if started.elapsed() > PREVIEW_BUDGET {
            out.complete = false;
            break;
        }
        let page = state
            .store
            .list_customers(after.as_deref(), PREVIEW_PAGE)
            .await?;
        out.customers_read += page.len() as u64;
        let chosen: Vec<crate::dialer::audience::Candidate<'_>> = page
            .iter()
            .flat_map(|customer| crate::dialer::audience::candidates(customer, audience.target))
            .filter(|cand| audience.matches(cand))
            .collect();
        let phones: Vec<String> = chosen
            .iter()
            .filter_map(|c| c.phone.map(str::to_owned))
            .collect();
        let opted: std::collections::HashSet<String> =
            state.store.dnc_lookup(&phones).await?.into_iter().collect();
        for cand in chosen {
            let phone = cand.phone.unwrap_or_default();
            if opted.contains(phone) {
                out.opted_out += 1;
                continue;
            }
            out.matching += 1;
            if out.sample.len() < PREVIEW_SAMPLE {
                out.sample.push(PreviewContact {
                    customer_id: cand.customer.id.to_string(),
                    code: cand.code.map(str::to_owned),
                    name: cand.contact.name.clone(),
                    phone: phone.to_owned(),
                    language: cand.contact.language.clone(),
                });
            }
        }
        if (page.len() as u64) < PREVIEW_PAGE {
            break;
        }
        after = page.last().map(|c| c.id.to_string());
    }
    Ok(Json(out))
}

/// Whether the campaign's first date is still ahead in its own zone.
fn starts_later(state: &AppState, c: &Campaign) -> Result<bool, ApiError> {
    let input: ScheduleInput = serde_json::from_value(c.schedule.clone()).unwrap_or_default();
    let windows = CallingWindows::parse(&input, default_zone(state))
        .map_err(|e| ApiError::invalid("invalid_campaign", e.field, e.message))?;
    let Some(first) = input
        .start_date
        .as_deref()
        .and_then(|d| d.parse::<jiff::civil::Date>().ok())
    else {
        return Ok(false);
    };
    let today = jiff::Timestamp::now()
        .to_zoned(windows.timezone.clone())
        .date();
    Ok(first > today)
}

/// One lifecycle action, version-checked and audited.
async fn transition(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    action: &str,
) -> Result<Json<CampaignView>, ApiError> {
    let mut c = state.store.get_campaign(&id).await?;
    let status = Status::parse(&c.status).unwrap_or(Status::Draft);
    let later = starts_later(&state, &c)?;
    let Some(to) = next(status, action, later) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            format!("a {} campaign cannot {action}", status.as_str()),
        )
        .with_field("status"));
    };
    c.status = to.as_str().to_owned();
    if to != Status::Paused {
        c.paused_reason = None;
    }
    let c = state.store.update_campaign(c).await.map_err(conflict)?;
    state
        .store
        .append_audit(actor.entry(
            &format!("campaign.{action}"),
            &c.id,
            format!("{} -> {}", status.as_str(), to.as_str()),
        ))
        .await?;
    Ok(Json(c.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_only_its_arrows() {
        use Status::*;
        assert_eq!(next(Draft, "start", false), Some(Running));
        assert_eq!(next(Draft, "start", true), Some(Scheduled));
        assert_eq!(next(Running, "pause", false), Some(Paused));
        assert_eq!(next(Scheduled, "pause", false), Some(Paused));
        assert_eq!(next(Paused, "resume", false), Some(Running));
        assert_eq!(next(Paused, "resume", true), Some(Scheduled));
        for s in [Draft, Scheduled, Running, Paused] {
            assert_eq!(next(s, "stop", false), Some(Stopped));
        }
        for s in [Completed, Stopped] {
            for a in ["start", "pause", "resume", "stop"] {
                assert_eq!(next(s, a, false), None, "{s:?} {a}");
            }
        }
        assert_eq!(next(Running, "start", false), None);
        assert_eq!(next(Draft, "resume", false), None);
        assert_eq!(next(Draft, "pause", false), None);
    }
}
