//! `/api/prospects/field-defs`: the dynamic prospect fields (`custom_<key>` columns).
//! A definition is validated whole, on create and after every patch: key pattern,
//! type, enum options, a regex that compiles within a size limit, a default that fits
//! the type, visibility. Deleting a definition keeps stored values (they stay in the
//! customers' `custom` maps) but drops the column from the templates.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::http::{ApiError, JsonBody};
use crate::model::{new_id, FieldDef, FieldKind};
use crate::AppState;

const MAX_KEY: usize = 64;
const MAX_LABEL: usize = 200;
const MAX_OPTIONS: usize = 200;
const MAX_OPTION: usize = 100;
const MAX_REGEX: usize = 500;
/// Compiled-program limit: a definition cannot make imports slow or memory-hungry.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// Why a definition's regex is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegexError {
    #[error("regex is limited to {MAX_REGEX} characters")]
    TooLong,
    #[error("regex does not compile: {0}")]
    Invalid(String),
}

/// Why a value does not fit its definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a valid {0}")]
    Kind(FieldKind),
    #[error("does not match the field's regex")]
    Regex,
}

/// Compiles a definition's regex with the size limit (also used to validate values).
pub fn compile(pattern: &str) -> Result<regex::Regex, RegexError> {
    if pattern.len() > MAX_REGEX {
        return Err(RegexError::TooLong);
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RegexError::Invalid(e.to_string()))
}

/// Checks a whole definition.
pub fn validate(def: &FieldDef) -> Result<(), ApiError> {
    let key_ok = !def.key.is_empty()
        && def.key.len() <= MAX_KEY
        && def
            .key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !key_ok {
        return Err(ApiError::invalid(
            "invalid_field_def",
            "key",
            format!("key must match ^[a-z0-9_]+$ (1-{MAX_KEY} characters)"),
        ));
    }
    let label = def.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL {
        return Err(ApiError::invalid(
            "invalid_field_def",
            "label",
            format!("label must be 1-{MAX_LABEL} characters"),
        ));
    }
    if def.kind == FieldKind::Enum {
        if def.options.is_empty() || def.options.len() > MAX_OPTIONS {
            return Err(ApiError::invalid(
                "invalid_field_def",
                "options",
                format!("an enum needs 1-{MAX_OPTIONS} options"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for o in &def.options {
            if o.trim().is_empty() || o.chars().count() > MAX_OPTION || !seen.insert(o.as_str()) {
                return Err(ApiError::invalid(
                    "invalid_field_def",
                    "options",
                    format!("options must be unique, 1-{MAX_OPTION} characters each"),
                ));
            }
        }
    } else if !def.options.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field_def",
            "options",
            "options are only for type enum",
        ));
    }
    let regex = match def.regex.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            if !def.kind.is_text() {
                return Err(ApiError::invalid(
                    "invalid_field_def",
                    "regex",
                    "regex applies to string, phone and email fields",
                ));
            }
            Some(
                compile(r)
                    .map_err(|e| ApiError::invalid("invalid_field_def", "regex", e.to_string()))?,
            )
        }
        None => None,
    };
    if let Some(default) = def.default.as_ref().filter(|v| !v.is_null()) {
        check_value(def, regex.as_ref(), default).map_err(|e| {
            ApiError::invalid("invalid_field_def", "default", format!("default: {e}"))
        })?;
    }
    Ok(())
}

/// Whether `value` fits the definition (used for defaults now, upload cells later).
pub fn check_value(
    def: &FieldDef,
    regex: Option<&regex::Regex>,
    value: &Value,
) -> Result<(), ValueError> {
    let text = value.as_str();
    let ok = match def.kind {
        FieldKind::Number => value.is_number(),
        FieldKind::Boolean => value.is_boolean(),
        FieldKind::Enum => text.is_some_and(|t| def.options.iter().any(|o| o == t)),
        FieldKind::Date => text.is_some_and(crate::time::is_date),
        FieldKind::Email => text.is_some_and(|t| {
            t.split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !t.contains(' '))
        }),
        FieldKind::String | FieldKind::Phone => text.is_some(),
    };
    if !ok {
        return Err(ValueError::Kind(def.kind));
    }
    if let (Some(re), Some(t)) = (regex, text) {
        if !re.is_match(t) {
            return Err(ValueError::Regex);
        }
    }
    Ok(())
}

/// Create body and patch body share this shape; absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefInput {
    key: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    required: Option<bool>,
    options: Option<Vec<String>>,
    regex: Option<Option<String>>,
    default: Option<Value>,
    visibility: Option<String>,
    order: Option<i64>,
}

impl DefInput {
    /// Sets the given fields; a type or visibility that is not one of the names is
    /// refused here (the rest is [`validate`]d whole afterwards).
    fn apply(self, def: &mut FieldDef) -> Result<(), ApiError> {
        if let Some(v) = self.key {
            def.key = v.trim().to_owned();
        }
        if let Some(v) = self.label {
            def.label = v.trim().to_owned();
        }
        if let Some(v) = self.kind {
            def.kind = v
                .parse()
                .map_err(|e| ApiError::invalid("invalid_field_def", "type", format!("type {e}")))?;
        }
        if let Some(v) = self.required {
            def.required = v;
        }
        if let Some(v) = self.options {
            def.options = v;
        }
        if let Some(v) = self.regex {
            def.regex = v.filter(|r| !r.is_empty());
        }
        if let Some(v) = self.default {
            def.default = (!v.is_null()).then_some(v);
        }
        if let Some(v) = self.visibility {
            def.visibility = v.parse().map_err(|e| {
                ApiError::invalid("invalid_field_def", "visibility", format!("visibility {e}"))
            })?;
        }
        if let Some(v) = self.order {
            def.order = v;
        }
        Ok(())
    }
}

fn key_conflict(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_key",
            "a field definition with this key exists",
        )
        .with_field("key"),
        other => other.into(),
    }
}

/// `GET /api/prospects/field-defs`, ordered by `order` then key.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<FieldDef>>, ApiError> {
    Ok(Json(state.store.list_field_defs().await?))
}

/// `POST /api/prospects/field-defs` → 201.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<DefInput>,
) -> Result<(StatusCode, Json<FieldDef>), ApiError> {
    if input.key.is_none() {
        return Err(ApiError::invalid(
            "invalid_field_def",
            "key",
            "key is required",
        ));
    }
    let mut def = FieldDef::new(new_id(), "", FieldKind::String);
    input.apply(&mut def)?;
    validate(&def)?;
    let saved = state
        .store
        .create_field_def(def)
        .await
        .map_err(key_conflict)?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// `PATCH /api/prospects/field-defs/{id}`: changes the given fields, revalidates the whole.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<DefInput>,
) -> Result<Json<FieldDef>, ApiError> {
    let mut def = state
        .store
        .list_field_defs()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found("no such field definition"))?;
    input.apply(&mut def)?;
    validate(&def)?;
    Ok(Json(
        state
            .store
            .update_field_def(def)
            .await
            .map_err(key_conflict)?,
    ))
}

/// `DELETE /api/prospects/field-defs/{id}` → 204.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_field_def(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: &str) -> FieldDef {
        FieldDef {
            label: "Region".into(),
            ..FieldDef::new("x", "region", kind.parse().expect("kind"))
        }
    }

    /// What `patch` (a JSON body) does to a valid definition: the field it is refused on.
    fn patched(patch: &str) -> Option<String> {
        let input: DefInput = serde_json::from_str(patch).expect("json");
        let mut d = def("string");
        field_of(input.apply(&mut d).and_then(|()| validate(&d)))
    }

    fn field_of(r: Result<(), ApiError>) -> Option<String> {
        r.err().and_then(|e| e.field)
    }

    #[test]
    fn rejections_name_the_field() {
        let mut d = def("string");
        d.key = "Region!".into();
        assert_eq!(field_of(validate(&d)).as_deref(), Some("key"));
        assert_eq!(patched(r#"{"type":"colour"}"#).as_deref(), Some("type"));
        let d = def("enum");
        assert_eq!(field_of(validate(&d)).as_deref(), Some("options"));
        let mut d = def("string");
        d.regex = Some("(unclosed".into());
        assert_eq!(field_of(validate(&d)).as_deref(), Some("regex"));
        let mut d = def("string");
        d.regex = Some("\\w{1000}{1000}".into());
        assert_eq!(
            field_of(validate(&d)).as_deref(),
            Some("regex"),
            "size limit"
        );
        let mut d = def("number");
        d.default = Some(Value::from("ten"));
        assert_eq!(field_of(validate(&d)).as_deref(), Some("default"));
        assert_eq!(
            patched(r#"{"visibility":"everyone"}"#).as_deref(),
            Some("visibility")
        );
    }

    #[test]
    fn values_fit_their_type() {
        let mut e = def("enum");
        e.options = vec!["north".into(), "south".into()];
        assert!(validate(&e).is_ok());
        assert!(check_value(&e, None, &Value::from("north")).is_ok());
        assert!(check_value(&e, None, &Value::from("west")).is_err());
        let d = def("date");
        assert!(check_value(&d, None, &Value::from("2024-02-29")).is_ok());
        assert!(check_value(&d, None, &Value::from("2023-02-29")).is_err());
        let s = def("string");
        let re = compile("^[A-Z]{3}-\\d+$").expect("regex");
        assert!(check_value(&s, Some(&re), &Value::from("ACC-12")).is_ok());
        assert!(check_value(&s, Some(&re), &Value::from("acc-12")).is_err());
    }
}
