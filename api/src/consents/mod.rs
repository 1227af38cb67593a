//! `/api/consents`: the consent ledger a campaign with `requires_consent` dials from.
//! One record per phone (source, time captured, wording and its version, channel,
//! evidence reference); recorded one at a time or from a CSV, exported as CSV, revoked
//! by hand or by any opt-out (the do-not-call insert revokes it in the same write).
//! Every change is audited with its actor, so the audit log is the ledger's history.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::csv_out::{attachment, paged_body, push_line};
use crate::http::{Actor, ApiError, JsonBody};
use crate::model::{now_millis, Consent};
use crate::phone::{Region, E164};
use crate::time::{parse_rfc3339_millis, rfc3339_millis};
use crate::AppState;

pub const CHANNELS: [&str; 7] = [
    "web",
    "paper",
    "phone",
    "sms",
    "email",
    "in_person",
    "other",
];
const MAX_IMPORT_ROWS: usize = 100_000;
const MAX_PAGE: u64 = 500;
const EXPORT_CHUNK: u64 = 1000;
const CSV_COLUMNS: [&str; 7] = [
    "phone",
    "source",
    "captured_at",
    "wording",
    "wording_version",
    "channel",
    "evidence_ref",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/consents", get(list).post(record))
        .route("/api/consents/export.csv", get(export))
        .route("/api/consents/import", post(import))
        .route("/api/consents/{e164}", get(one))
        .route("/api/consents/{e164}/revoke", post(revoke))
}

/// A consent as the API takes it (`captured_at` in RFC 3339).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub phone: String,
    pub source: String,
    pub captured_at: String,
    pub wording: String,
    pub wording_version: String,
    pub channel: String,
    #[serde(default)]
    pub evidence_ref: String,
}

#[derive(Debug, Serialize)]
pub struct ConsentView {
    phone: String,
    source: String,
    captured_at: String,
    wording: String,
    wording_version: String,
    channel: String,
    evidence_ref: String,
    valid: bool,
    revoked_at: Option<String>,
    revoked_reason: Option<String>,
    recorded_by: String,
    updated_at: String,
}

impl From<Consent> for ConsentView {
    fn from(c: Consent) -> Self {
        Self {
            valid: c.is_valid(),
            phone: c.phone_e164,
            source: c.source,
            captured_at: rfc3339_millis(c.captured_at),
            wording: c.wording,
            wording_version: c.wording_version,
            channel: c.channel,
            evidence_ref: c.evidence_ref,
            revoked_at: c.revoked_at.map(rfc3339_millis),
            revoked_reason: c.revoked_reason,
            recorded_by: c.recorded_by,
            updated_at: rfc3339_millis(c.updated_at),
        }
    }
}

/// A refused consent: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
    }
}

impl ConsentInput {
    /// The stored consent, or the first field that is wrong. Consent cannot be given
    /// in the future (five minutes of clock skew are allowed).
    pub fn checked(self, region: Region, by: &str, now: i64) -> Result<Consent, Refusal> {
        let phone = E164::normalize(&self.phone, region)
            .map_err(|e| refuse("phone", format!("{:?} is {e}", self.phone)))?;
        let text = |field, v: &str, max: usize, required: bool| {
            let v = v.trim();
            if required && v.is_empty() {
                return Err(refuse(field, format!("{field} is required")));
            }
            if v.chars().count() > max {
                return Err(refuse(
                    field,
                    format!("{field} is at most {max} characters"),
                ));
            }
            Ok(v.to_owned())
        };
        let source = text("source", &self.source, 100, true)?;
        let wording = text("wording", &self.wording, 5000, true)?;
        let wording_version = text("wording_version", &self.wording_version, 50, true)?;
        let evidence_ref = text("evidence_ref", &self.evidence_ref, 500, false)?;
        let channel = self.channel.trim().to_ascii_lowercase();
        if !CHANNELS.contains(&channel.as_str()) {
            return Err(refuse(
                "channel",
                format!("channel must be one of {}", CHANNELS.join(", ")),
            ));
        }
        let captured_at = parse_rfc3339_millis(&self.captured_at).ok_or_else(|| {
            refuse(
                "captured_at",
                "captured_at must be an RFC 3339 time or a date",
            )
        })?;
        if captured_at > now + 300_000 {
            return Err(refuse("captured_at", "captured_at is in the future"));
        }
        Ok(Consent {
            phone_e164: phone.into_string(),
            source,
            captured_at,
            wording,
            wording_version,
            channel,
            evidence_ref,
            revoked_at: None,
            revoked_reason: None,
            recorded_by: by.to_owned(),
            updated_at: now,
        })
    }
}

fn invalid(r: Refusal) -> ApiError {
    ApiError::invalid("invalid_consent", r.field, r.message)
}

fn phone_in_path(e164: &str) -> Result<String, ApiError> {
    E164::parse_strict(e164)
        .map(E164::into_string)
        .map_err(|e| ApiError::invalid("invalid_phone", "e164", format!("{e164:?} is {e}")))
}

/// `POST /api/consents`: records (or replaces) a phone's consent.
async fn record(
    State(state): State<AppState>,
    actor: Actor,
    JsonBody(body): JsonBody<ConsentInput>,
) -> Result<Response, ApiError> {
    let consent = body
        .checked(state.region, actor.label(), now_millis())
        .map_err(invalid)?;
    if !state
        .store
        .dnc_lookup(std::slice::from_ref(&consent.phone_e164))
        .await?
        .is_empty()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "opted_out",
            format!(
                "{} is on the do-not-call list; remove it there first",
                consent.phone_e164
            ),
        )
        .with_field("phone"));
    }
    let detail = format!(
        "{} {} via {}",
        consent.source, consent.wording_version, consent.channel
    );
    let saved = state.store.put_consent(consent).await?;
    state
        .store
        .append_audit(actor.entry("consent.record", &saved.phone_e164, detail))
        .await?;
    Ok((StatusCode::CREATED, Json(ConsentView::from(saved))).into_response())
}

/// `GET /api/consents/{e164}`
async fn one(
    State(state): State<AppState>,
    Path(e164): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    let phone = phone_in_path(&e164)?;
    Ok(Json(state.store.get_consent(&phone).await?.into()))
}

#[derive(Debug, Default, Deserialize)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/consents/{e164}/revoke` with `{reason?}`.
async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(e164): Path<String>,
    body: Bytes,
) -> Result<Json<ConsentView>, ApiError> {
    let phone = phone_in_path(&e164)?;
    let body: RevokeBody = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid("invalid_json", "reason", e.to_string()))?
    };
    let reason = body
        .reason
        .unwrap_or_else(|| "revoked".into())
        .chars()
        .take(500)
        .collect::<String>();
    let c = state
        .store
        .revoke_consent(&phone, now_millis(), &reason)
        .await?;
    state
        .store
        .append_audit(actor.entry("consent.revoke", &phone, reason))
        .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

/// `GET /api/consents?after=&limit=`: by phone.
async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            "limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let mut items = state
        .store
        .list_consents(p.after.as_deref(), limit + 1)
        .await?;
    let has_more = items.len() as u64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = has_more.then(|| items.last().map(|c| c.phone_e164.clone()));
    let items: Vec<ConsentView> = items.into_iter().map(Into::into).collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next_after": next.flatten() }),
    ))
}

fn push_consent(out: &mut String, c: Consent) {
    let v = ConsentView::from(c);
    push_line(
        out,
        &[
            v.phone.as_str(),
            &v.source,
            &v.captured_at,
            &v.wording,
            &v.wording_version,
            &v.channel,
            &v.evidence_ref,
            v.revoked_at.as_deref().unwrap_or(""),
            v.revoked_reason.as_deref().unwrap_or(""),
            &v.recorded_by,
        ],
    );
}

/// `GET /api/consents/export.csv`: every consent by phone; its first seven columns
/// import again unchanged.
async fn export(State(state): State<AppState>, actor: Actor) -> Result<Response, ApiError> {
    let first = state.store.list_consents(None, EXPORT_CHUNK).await?;
    state
        .store
        .append_audit(actor.entry("export.consents", "consents", String::new()))
        .await?;
    let mut columns = CSV_COLUMNS.to_vec();
    columns.extend(["revoked_at", "revoked_reason", "recorded_by"]);
    let body = paged_body(
        &columns,
        first,
        EXPORT_CHUNK,
        |c: &Consent| c.phone_e164.clone(),
        push_consent,
        move |_, after| {
            let store = state.store.clone();
            async move { store.list_consents(Some(&after), EXPORT_CHUNK).await }
        },
    );
    Ok(attachment(body, "consents.csv"))
}

#[derive(Debug, Serialize)]
struct RowError {
    /// The CSV line (the header is line 1).
    row: usize,
    field: &'static str,
    message: String,
}

#[derive(Debug, Default, Serialize)]
struct ImportReport {
    total: usize,
    recorded: usize,
    /// Phones on the do-not-call list: never recorded as consenting.
    opted_out: usize,
    failed: usize,
    errors: Vec<RowError>,
}

/// The consents of a CSV body (columns as the export's first seven, any order, more
/// ignored), or the rows that are wrong.
fn parse_csv(
    body: &[u8],
    region: Region,
    by: &str,
    now: i64,
    report: &mut ImportReport,
) -> Result<Vec<Consent>, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::invalid("invalid_csv", "header", e.to_string()))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut at = Vec::new();
    for col in CSV_COLUMNS {
        match header.iter().position(|h| h == col) {
            Some(i) => at.push(i),
            None if col == "evidence_ref" => at.push(usize::MAX),
            None => {
                return Err(ApiError::invalid(
                    "invalid_csv",
                    "header",
                    format!(
                        "the column {col} is missing (needed: {})",
                        CSV_COLUMNS.join(", ")
                    ),
                ))
            }
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        report.total += 1;
        if report.total > MAX_IMPORT_ROWS {
            return Err(ApiError::invalid(
                "too_many_rows",
                "file",
                format!("at most {MAX_IMPORT_ROWS} rows per upload"),
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.failed += 1;
                report.errors.push(RowError {
                    row,
                    field: "row",
                    message: e.to_string(),
                });
                continue;
            }
        };
        let cell = |k: usize| record.get(at[k]).unwrap_or("").to_owned();
        let input = ConsentInput {
            phone: cell(0),
            source: cell(1),
            captured_at: cell(2),
            wording: cell(3),
            wording_version: cell(4),
            channel: cell(5),
            evidence_ref: cell(6),
        };
        match input.checked(region, by, now) {
            Ok(c) => out.push(c),
            Err(r) => {
                report.failed += 1;
                if report.errors.len() < 1000 {
                    report.errors.push(RowError {
                        row,
                        field: r.field,
                        message: r.message,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// `POST /api/consents/import` with a CSV body: every valid row recorded, every wrong
/// one reported by line and field; phones on the do-not-call list are not recorded.
async fn import(
    State(state): State<AppState>,
    actor: Actor,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let mut report = ImportReport::default();
    let now = now_millis();
    let consents = parse_csv(&body, state.region, actor.label(), now, &mut report)?;
    for chunk in consents.chunks(500) {
        let phones: Vec<String> = chunk.iter().map(|c| c.phone_e164.clone()).collect();
        let opted: std::collections::HashSet<String> =
            state.store.dnc_lookup(&phones).await?.into_iter().collect();
        for c in chunk {
            if opted.contains(&c.phone_e164) {
                report.opted_out += 1;
                continue;
            }
            state.store.put_consent(c.clone()).await?;
            report.recorded += 1;
        }
    }
    state
        .store
        .append_audit(actor.entry(
            "consent.import",
            "consents",
            format!(
                "{} rows: {} recorded, {} opted out, {} failed",
                report.total, report.recorded, report.opted_out, report.failed
            ),
        ))
        .await?;
    Ok(Json(report))
}
