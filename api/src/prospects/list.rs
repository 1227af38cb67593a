//! `/api/prospects`: the list with its filters and the seed's per-phone opt-out.
//! (Field definitions, templates and CSV uploads come with the rest of the prospects
//! work.) Every refusal names the parameter it is about.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::http::{flag, number, Actor, ApiError, JsonBody};
use crate::model::{
    normalize_tags, now_millis, ContactKind, ContactRow, DncEntry, DncSource, ProspectQuery, Scope,
    Sort,
};
use crate::phone::{search_candidates, E164};
use crate::AppState;

/// Rows an unpaged list returns at most (`truncated` says when there were more).
pub const UNPAGED_CAP: u64 = 1000;
pub const MAX_PAGE_SIZE: u64 = 500;
const DEFAULT_PAGE_SIZE: u64 = 50;
const MAX_REASON: usize = 500;
const MAX_Q: usize = 200;

/// The store query for the seed's parameters.
pub fn parse_query(
    params: &HashMap<String, String>,
    state: &AppState,
) -> Result<(ProspectQuery, Option<(u64, u64)>), ApiError> {
    let scope = match params.get("scope").map(|s| s.trim()) {
        None | Some("" | "invoice") => Scope::Invoice,
        Some("delivery") => Scope::Delivery,
        Some("both") => Scope::Both,
        Some(other) => {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "scope",
                format!("scope must be invoice, delivery or both, not {other:?}"),
            ))
        }
    };
    let tags = normalize_tags(
        params
            .get("tags")
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    );
    let language = params
        .get("lang")
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty());
    if let Some(l) = &language {
        if l.len() > 8 || !l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "lang",
                "lang must be a language code such as nl, fr, de, en",
            ));
        }
    }
    let text = params
        .get("q")
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if text.as_ref().is_some_and(|q| q.chars().count() > MAX_Q) {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "q",
            format!("q is limited to {MAX_Q} characters"),
        ));
    }
    let phones = text
        .as_deref()
        .map(|q| search_candidates(q, state.region))
        .unwrap_or_default();
    let sort = match params
        .get("sort")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Sort::default(),
        Some(s) => Sort::parse(s).ok_or_else(|| {
            let all: Vec<&str> = Sort::ALL.iter().map(|(k, _)| *k).collect();
            ApiError::invalid(
                "invalid_parameter",
                "sort",
                format!("sort must be one of {}", all.join(", ")),
            )
        })?,
    };
    let paged = flag(params, "paged")?.unwrap_or(false);
    let (offset, limit, page) = if paged {
        let page = number(params, "page", 1, 1_000_000)?;
        let size = number(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        ((page - 1) * size, size, Some((page, size)))
    } else {
        (0, UNPAGED_CAP, None)
    };
    Ok((
        ProspectQuery {
            scope,
            tags,
            language,
            language_confirmed: flag(params, "lang_confirmed")?,
            opt_out: flag(params, "opt_out")?,
            text,
            phones,
            show_archived: flag(params, "show_archived")?.unwrap_or(false),
            sort,
            offset,
            limit,
        },
        page,
    ))
}

/// One list row, in the seed's shape.
#[derive(Debug, Serialize)]
pub struct Row {
    #[serde(rename = "type")]
    kind: ContactKind,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    name: String,
    company: String,
    email: String,
    /// The landline, else the mobile.
    phone: Option<String>,
    mobile: Option<String>,
    language: String,
    language_confirmed: bool,
    tags: Vec<String>,
    opt_out: bool,
    archived: bool,
}

impl From<ContactRow> for Row {
    fn from(r: ContactRow) -> Self {
        Self {
            kind: r.kind,
            id: r.customer_id.into(),
            code: (!r.code.is_empty()).then_some(r.code),
            name: r.name,
            company: r.company,
            email: r.email,
            phone: r.phone.clone().or_else(|| r.mobile.clone()),
            mobile: r.mobile,
            language: r.language,
            language_confirmed: r.language_confirmed,
            tags: r.tags,
            opt_out: r.opt_out,
            archived: r.archived,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ListResponse {
    items: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_more: Option<bool>,
    /// Unpaged lists stop at 1000 rows; `true` when there were more.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
}

/// `GET /api/prospects`
pub async fn list(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
) -> Result<Json<ListResponse>, ApiError> {
    let (query, page) = parse_query(&params, &state)?;
    let result = state.store.list_prospects(&query).await?;
    let items = result.items.into_iter().map(Row::from).collect();
    Ok(Json(match page {
        Some((page, size)) => ListResponse {
            items,
            page: Some(page),
            page_size: Some(size),
            has_more: Some(result.has_more),
            truncated: None,
        },
        None => ListResponse {
            items,
            page: None,
            page_size: None,
            has_more: None,
            truncated: Some(result.has_more),
        },
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
    opt_out: bool,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OptOutResponse {
    phone_e164: String,
    opt_out: bool,
    /// Whether the DNC list changed (setting the state it already had is not an error).
    changed: bool,
}

/// `PATCH /api/prospects/phone/{e164}/opt-out` with `{opt_out, reason?}`: adds or
/// removes the phone in DNC everywhere it appears, and writes the audit log.
pub async fn set_opt_out(
    State(state): State<AppState>,
    Path(e164): Path<String>,
    actor: Actor,
    JsonBody(body): JsonBody<OptOutBody>,
) -> Result<Json<OptOutResponse>, ApiError> {
    let phone = E164::parse_strict(&e164).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, e.code(), format!("{e164:?}: {e}"))
            .with_field("e164")
    })?;
    let reason = body.reason.unwrap_or_default().trim().to_owned();
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "reason",
            format!("reason is limited to {MAX_REASON} characters"),
        ));
    }
    let who = actor.label().to_owned();
    let changed = if body.opt_out {
        let entry = DncEntry {
            phone_e164: phone.as_str().to_owned(),
            reason: reason.clone(),
            source: DncSource::Ui,
            added_by: who.clone(),
            added_at: now_millis(),
        };
        state.store.add_dnc(vec![entry]).await? == 1
    } else {
        state.store.remove_dnc(&[phone.as_str().to_owned()]).await? == 1
    };
    state
        .store
        .append_audit(actor.entry(
            if body.opt_out {
                "dnc.add"
            } else {
                "dnc.remove"
            },
            phone.as_str(),
            serde_json::json!({ "source": "ui", "reason": reason, "changed": changed }).to_string(),
        ))
        .await?;
    Ok(Json(OptOutResponse {
        phone_e164: phone.into_string(),
        opt_out: body.opt_out,
        changed,
    }))
}
