//! A campaign's figures and its attempts: `GET /api/campaigns/{id}/stats` (contacts,
//! dialled, answered, each disposition, skips by reason, what remains and when the
//! next dial is due, the 30-day abandon rate), `GET …/attempts` (newest first, paged)
//! and `GET …/attempts.csv` (every attempt, oldest first, streamed page by page).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::csv_out::{attachment, paged_body, push_line};
use crate::dialer::outcome::answered_by_person;
use crate::http::{Actor, ApiError};
use crate::model::{now_millis, CallAttempt, Millis};
use crate::time::rfc3339_millis;
use crate::AppState;

const DAY_MS: Millis = 86_400_000;
const MAX_PAGE: u64 = 500;
const EXPORT_CHUNK: u64 = 1000;

#[derive(Debug, Serialize)]
pub struct Stats {
    pub campaign_id: String,
    pub status: String,
    pub paused_reason: Option<String>,
    /// Phones on the campaign's dial list.
    pub contacts: u64,
    /// Waiting for their next dial, or being dialled now.
    pub remaining: u64,
    pub dialing: u64,
    pub done: u64,
    pub next_dial_at: Option<String>,
    /// Attempts that reached the carrier (or were lost on the way).
    pub dialed: u64,
    pub answered: u64,
    pub opted_out: u64,
    pub dispositions: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, i64>,
    pub abandon_rate_30d: f64,
}

/// `GET /api/campaigns/{id}/stats`
pub async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(compute(&state, &id).await?))
}

/// How often the live stream re-reads the figures (they change on any appliance).
const LIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `GET /api/campaigns/{id}/events`: the stats as server-sent events — `stats` at
/// once, then whenever they change: at once when this appliance's dialler touched the
/// campaign, within two seconds when another appliance did; a comment every 15 s keeps
/// idle connections open. Ends when the appliance drains.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::Event;
    let first = serde_json::to_string(&compute(&state, &id).await?).unwrap_or_default();
    let changes = state.dialer().map(|d| d.changes());
    let mut tick = tokio::time::interval(LIVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = (state, id, changes, tick, None::<String>, Some(first));
    let stream = futures_util::stream::unfold(
        feed,
        |(state, id, mut changes, mut tick, last, first)| async move {
            if let Some(data) = first {
                let event = Event::default().event("stats").data(data.clone());
                return Some((Ok(event), (state, id, changes, tick, Some(data), None)));
            }
            let bridge = state.bridge.clone();
            let quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
            loop {
                let touched = async {
                    match changes.as_mut() {
                        Some(rx) => loop {
                            match rx.recv().await {
                                Ok(c) if c == id => return,
                                Ok(_) => {}
                                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                    std::future::pending::<()>().await;
                                }
                            }
                        },
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = bridge.draining() => return None,
                    () = tokio::time::sleep_until(quiet_until) => {
                        let event = Event::default().comment("keep-alive");
                        return Some((Ok(event), (state, id, changes, tick, last, None)));
                    }
                    () = touched => {}
                    _ = tick.tick() => {}
                }
                let Ok(now) = compute(&state, &id).await else {
                    continue;
                };
                let data = serde_json::to_string(&now).unwrap_or_default();
                if last.as_deref() != Some(data.as_str()) {
                    let event = Event::default().event("stats").data(data.clone());
                    return Some((Ok(event), (state, id, changes, tick, Some(data), None)));
                }
            }
        },
    );
    Ok(axum::response::sse::Sse::new(stream))
}

/// A campaign's figures now.
pub async fn compute(state: &AppState, id: &str) -> Result<Stats, ApiError> {
    let id = id.to_owned();
    let c = state.store.get_campaign(&id).await?;
    let counts = state.store.dial_entry_counts(&id).await?;
    let all = state.store.attempt_tally(&id, 0).await?;
    let month = state
        .store
        .attempt_tally(&id, now_millis() - 30 * DAY_MS)
        .await?;
    let answered_in = |t: &crate::model::AttemptTally| -> u64 {
        t.dispositions
            .iter()
            .filter(|(d, _)| answered_by_person(d))
            .map(|(_, n)| n)
            .sum()
    };
    let month_answered = answered_in(&month);
    let abandoned = month.dispositions.get("abandoned").copied().unwrap_or(0);
    let skipped = state
        .store
        .campaign_counters(&id)
        .await?
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("skip_").map(|r| (r.to_owned(), v)))
        .collect();
    let not_dialed = all.dispositions.get("not_dialed").copied().unwrap_or(0);
    Ok(Stats {
        campaign_id: c.id,
        status: c.status,
        paused_reason: c.paused_reason,
        contacts: counts.waiting + counts.dialing + counts.done,
        remaining: counts.waiting + counts.dialing,
        dialing: counts.dialing,
        done: counts.done,
        next_dial_at: counts.next_at.map(rfc3339_millis),
        dialed: all.started.saturating_sub(not_dialed),
        answered: answered_in(&all),
        opted_out: all.dispositions.get("opted_out").copied().unwrap_or(0),
        dispositions: all.dispositions,
        skipped,
        abandon_rate_30d: if month_answered == 0 {
            0.0
        } else {
            abandoned as f64 / month_answered as f64
        },
    })
}

#[derive(Debug, Deserialize)]
pub struct PageParams {
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    id: String,
    phone: String,
    customer_id: String,
    target: String,
    delivery_code: Option<String>,
    attempt_no: i64,
    state: &'static str,
    disposition: Option<String>,
    outcome: Option<String>,
    call_id: Option<String>,
    started_at: String,
    ended_at: Option<String>,
    error: Option<String>,
}

impl From<CallAttempt> for AttemptView {
    fn from(a: CallAttempt) -> Self {
        Self {
            id: a.id,
            phone: a.phone_e164,
            customer_id: a.customer_id.to_string(),
            target: a.target,
            delivery_code: a.delivery_code,
            attempt_no: a.attempt_no,
            state: a.state.as_str(),
            disposition: a.disposition,
            outcome: a.outcome,
            call_id: a.call_id,
            started_at: rfc3339_millis(a.started_at),
            ended_at: a.ended_at.map(rfc3339_millis),
            error: a.error,
        }
    }
}

/// `GET /api/campaigns/{id}/attempts?offset=&limit=`: newest first, at most 500.
pub async fn attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.get_campaign(&id).await?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            "limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let offset = p.offset.unwrap_or(0);
    let mut items = state
        .store
        .campaign_attempts(&id, true, offset, limit + 1)
        .await?;
    let has_more = items.len() as u64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let items: Vec<AttemptView> = items.into_iter().map(Into::into).collect();
    Ok(Json(
        serde_json::json!({ "items": items, "offset": offset, "has_more": has_more }),
    ))
}

const CSV_HEADER: [&str; 12] = [
    "attempt_id",
    "phone_e164",
    "customer_id",
    "target",
    "delivery_code",
    "attempt_no",
    "state",
    "disposition",
    "outcome",
    "call_id",
    "started_at",
    "ended_at",
];

fn push_attempt(out: &mut String, a: CallAttempt) {
    let v = AttemptView::from(a);
    push_line(
        out,
        &[
            v.id.as_str(),
            &v.phone,
            &v.customer_id,
            &v.target,
            v.delivery_code.as_deref().unwrap_or(""),
            &v.attempt_no.to_string(),
            v.state,
            v.disposition.as_deref().unwrap_or(""),
            v.outcome.as_deref().unwrap_or(""),
            v.call_id.as_deref().unwrap_or(""),
            &v.started_at,
            v.ended_at.as_deref().unwrap_or(""),
        ],
    );
}

/// `GET /api/campaigns/{id}/attempts.csv`: every attempt with its disposition, oldest
/// first, streamed 1000 at a time.
pub async fn export(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.store.get_campaign(&id).await?;
    let first = state
        .store
        .campaign_attempts(&id, false, 0, EXPORT_CHUNK)
        .await?;
    state
        .store
        .append_audit(actor.entry("export.campaign_attempts", &id, String::new()))
        .await?;
    let body = paged_body(
        &CSV_HEADER,
        first,
        EXPORT_CHUNK,
        |a: &CallAttempt| a.id.clone(),
        push_attempt,
        move |offset, _| {
            let (store, id) = (state.store.clone(), id.clone());
            async move {
                store
                    .campaign_attempts(&id, false, offset, EXPORT_CHUNK)
                    .await
            }
        },
    );
    Ok(attachment(body, "campaign-attempts.csv"))
}
