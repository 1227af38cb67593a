//! `/api/dnc`: the do-not-call list, paged and searchable by number, and a streamed
//! CSV export (for audits and national-list reconciliation).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use serde::Serialize;

use crate::csv_out::push_line;
use crate::http::number;
use crate::http::ApiError;
use crate::model::DncEntry;
use crate::phone::E164;
use crate::time::rfc3339_millis;
use crate::AppState;

const DEFAULT_PAGE_SIZE: u64 = 100;
const MAX_PAGE_SIZE: u64 = 1000;
const EXPORT_CHUNK: u64 = 5000;

/// The number prefix `q` asks for: `+` and digits as typed, or a whole national number.
fn prefix(q: &str, state: &AppState) -> Result<String, ApiError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(String::new());
    }
    let compact: String = q
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/'))
        .collect();
    if let Some(digits) = compact.strip_prefix('+') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(compact);
        }
    }
    E164::normalize(q, state.region)
        .map(E164::into_string)
        .map_err(|_| {
            ApiError::invalid(
                "invalid_parameter",
                "q",
                "q must be the start of a number in E.164 (+32475...) or a whole phone number",
            )
        })
}

#[derive(Serialize)]
pub struct DncRow {
    phone_e164: String,
    reason: String,
    source: &'static str,
    added_by: String,
    added_at: String,
}

impl From<DncEntry> for DncRow {
    fn from(e: DncEntry) -> Self {
        Self {
            phone_e164: e.phone_e164,
            reason: e.reason,
            source: e.source.as_str(),
            added_by: e.added_by,
            added_at: rfc3339_millis(e.added_at),
        }
    }
}

/// `GET /api/dnc?q=&page=&page_size=`, ordered by number.
pub async fn list(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
) -> Result<Json<crate::http::Paged<DncRow>>, ApiError> {
    let prefix = prefix(params.get("q").map_or("", String::as_str), &state)?;
    let page = number(&params, "page", 1, 1_000_000)?;
    let page_size = number(&params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let result = state
        .store
        .list_dnc(Some(&prefix), (page - 1) * page_size, page_size)
        .await?;
    Ok(Json(crate::http::Paged {
        items: result.items.into_iter().map(DncRow::from).collect(),
        page,
        page_size,
        has_more: result.has_more,
    }))
}

/// `GET /api/dnc/export.csv`: every entry, streamed in chunks so the list's size never
/// sits in memory. A store failure mid-stream ends the body with an error: the
/// connection closes without the final chunk, so the download is visibly incomplete.
pub async fn export(
    State(state): State<AppState>,
    actor: crate::http::Actor,
) -> Result<Response, ApiError> {
    // Fail before the 200 if the store is down.
    let first = state.store.list_dnc(None, 0, EXPORT_CHUNK).await?;
    state
        .store
        .append_audit(actor.entry("export.dnc", "dnc", String::new()))
        .await?;
    let mut header = String::new();
    push_line(
        &mut header,
        &["phone_e164", "reason", "source", "added_by", "added_at"],
    );
    let stream = futures_util::stream::unfold(
        (Some(header), Some(first), EXPORT_CHUNK, state),
        |(header, page, offset, state)| async move {
            if let Some(h) = header {
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(h)),
                    (None, page, offset, state),
                ));
            }
            let page = page?;
            let mut out = String::with_capacity(page.items.len() * 64);
            for e in page.items {
                let row = DncRow::from(e);
                push_line(
                    &mut out,
                    &[
                        row.phone_e164.as_str(),
                        &row.reason,
                        row.source,
                        &row.added_by,
                        &row.added_at,
                    ],
                );
            }
            let next = if page.has_more {
                match state.store.list_dnc(None, offset, EXPORT_CHUNK).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        return Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, None, offset, state),
                        ))
                    }
                }
            } else {
                None
            };
            Some((
                Ok(Bytes::from(out)),
                (None, next, offset + EXPORT_CHUNK, state),
            ))
        },
    );
    Ok(crate::csv_out::attachment(
        Body::from_stream(stream),
        "dnc.csv",
    ))
}
