//! The query string of every route: [`Params`], every parameter as text (so a value
//! of the wrong type never meets axum's typed extractor, whose refusal is plain text:
//! `/api/audit?limit=18446744073709551616` answered that way), and numbers shared by
//! the paged routes with a clear 400 naming the parameter.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::ApiError;

/// The query parameters by name (percent-decoded; bytes that are not UTF-8 become
/// U+FFFD). Should the query string still not parse, the refusal is a 400
/// `invalid_query` in the API's JSON shape.
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(map)) => Ok(Self(map)),
            Err(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "the query string is not valid percent-encoded UTF-8",
            )),
        }
    }
}

/// `name` as a number in `1..=max`, `default` when absent or empty.
pub fn number(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    number_or(params, name, default, max, "invalid_parameter")
}

/// [`number`] refused with error `code` (routes whose clients know another code).
pub fn number_or(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
    code: &'static str,
) -> Result<u64, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code,
                    format!("{name} must be a number in 1..={max}"),
                )
                .with_field(name)
            }),
    }
}

/// `name` as a flag: `1`/`true` or `0`/`false`; `None` when absent or empty.
pub fn flag(params: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some("1" | "true") => Ok(Some(true)),
        Some("0" | "false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(
            "invalid_parameter",
            name,
            format!("{name} must be 0 or 1, not {other:?}"),
        )),
    }
}

/// A date (`2026-11-24`, midnight UTC) or an RFC 3339 time, as UTC milliseconds.
pub fn date(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| {
            crate::time::parse_rfc3339_millis(v).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_parameter",
                    name,
                    format!("{name} must be a date (2026-11-24) or an RFC 3339 time"),
                )
            })
        })
        .transpose()
}
