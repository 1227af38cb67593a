//! The audit log's routes: `GET /api/audit` (paged, filtered) and
//! `GET /api/audit/export.csv` (the same filters, every matching entry). Both need
//! `audit.view`; an export is itself audited.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;

use crate::csv_out::push_line;
use crate::http::{date, number, Actor, ApiError, Paged, Params};
use crate::model::{AuditEntry, AuditQuery};
use crate::AppState;

const PAGE_DEFAULT: u64 = 100;
const PAGE_MAX: u64 = 1000;
/// Entries per store read while exporting.
const EXPORT_CHUNK: u64 = 1000;
/// The longest `actor` or `action` filter.
const MAX_FILTER: usize = 320;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/audit", get(list))
        .route("/api/audit/export.csv", get(export))
}

/// The filters both routes read: `actor` (an email, `token:<name>`, `env:AUTH_TOKEN`
/// or a user id), `action`, `since` and `until` (dates or RFC 3339 times).
fn query(params: &HashMap<String, String>) -> Result<AuditQuery, ApiError> {
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > MAX_FILTER => Err(ApiError::invalid(
                "invalid_parameter",
                name,
                format!("{name} is limited to {MAX_FILTER} characters"),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let (since, until) = (date(params, "since")?, date(params, "until")?);
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "until",
                "until must be after since",
            ));
        }
    }
    Ok(AuditQuery {
        actor: text("actor")?,
        action: text("action")?,
        since,
        until,
        offset: 0,
        limit: PAGE_DEFAULT,
    })
}

/// `GET /api/audit?actor=&action=&since=&until=&page=&page_size=`: newest first.
/// `limit=` is the older name of `page_size`.
async fn list(
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<Paged<AuditEntry>>, ApiError> {
    let mut q = query(&params)?;
    let page = number(&params, "page", 1, u64::MAX / PAGE_MAX)?;
    let page_size = if params.contains_key("page_size") || !params.contains_key("limit") {
        number(&params, "page_size", PAGE_DEFAULT, PAGE_MAX)?
    } else {
        crate::http::number_or(&params, "limit", PAGE_DEFAULT, PAGE_MAX, "invalid_limit")?
    };
    q.offset = (page - 1) * page_size;
    q.limit = page_size;
    let found = state.store.list_audit(&q).await?;
    Ok(Json(Paged {
        items: found.items,
        page,
        page_size,
        has_more: found.has_more,
    }))
}

const COLUMNS: [&str; 8] = [
    "at",
    "actor",
    "actor_id",
    "action",
    "target",
    "detail",
    "client_ip",
    "request_id",
];

fn push_entry(out: &mut String, e: &AuditEntry) {
    push_line(
        out,
        &[
            crate::time::rfc3339_millis(e.at).as_str(),
            &e.actor,
            e.actor_id.as_deref().unwrap_or_default(),
            &e.action,
            &e.target,
            &e.detail,
            e.client_ip.as_deref().unwrap_or_default(),
            e.request_id.as_deref().unwrap_or_default(),
        ],
    );
}

/// `GET /api/audit/export.csv?actor=&action=&since=&until=`: every matching entry,
/// newest first, streamed a chunk at a time.
async fn export(
    State(state): State<AppState>,
    Params(params): Params,
    actor: Actor,
) -> Result<Response, ApiError> {
    let mut q = query(&params)?;
    q.limit = EXPORT_CHUNK;
    // Fail before the 200 if the store is down; the export is audited first, so it
    // lists itself.
    let detail = serde_json::json!({
        "actor": q.actor, "action": q.action, "since": q.since, "until": q.until,
    })
    .to_string();
    state
        .store
        .append_audit(actor.entry("export.audit", "audit", detail))
        .await?;
    let first = state.store.list_audit(&q).await?;
    let mut header = String::new();
    push_line(&mut header, &COLUMNS);
    let store = state.store.clone();
    let chunks = futures_util::stream::unfold(
        (Some(header), Some(first), q),
        move |(header, page, mut q)| {
            let store = store.clone();
            async move {
                if let Some(h) = header {
                    return Some((Ok(Bytes::from(h)), (None, page, q)));
                }
                let page = page?;
                let mut out = String::with_capacity(page.items.len() * 128);
                for e in &page.items {
                    push_entry(&mut out, e);
                }
                let next = if page.has_more {
                    q.offset += EXPORT_CHUNK;
                    match store.list_audit(&q).await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            return Some((
                                Err(std::io::Error::other(e.to_string())),
                                (None, None, q),
                            ))
                        }
                    }
                } else {
                    None
                };
                Some((Ok::<_, std::io::Error>(Bytes::from(out)), (None, next, q)))
            }
        },
    );
    Ok(crate::csv_out::attachment(
        Body::from_stream(chunks),
        "audit.csv",
    ))
}
