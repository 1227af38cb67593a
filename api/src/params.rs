//! Query-string numbers shared by the paged routes: a clear 400 naming the parameter.

use std::collections::HashMap;

use axum::http::StatusCode;

use crate::ApiError;

/// `name` as a number in `1..=max`, `default` when absent or empty.
pub fn number(
    params: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
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
                    "invalid_parameter",
                    format!("{name} must be a number in 1..={max}"),
                )
                .with_field(name)
            }),
    }
}
