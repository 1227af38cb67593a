//! One prospect: read it, archive or unarchive it, edit its invoice contact or one
//! delivery (by code), and list its calls. Edits are read-modify-write with the
//! customer's version, retried a few times if another writer got in between.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::{ApiError, JsonBody};
use crate::model::{normalize_tags, CallQuery, Contact, Customer};
use crate::phone::E164;
use crate::prospects::field_defs::{check_value, compile};
use crate::store::StoreError;
use crate::AppState;

const EDIT_ATTEMPTS: usize = 3;
const MAX_TEXT: usize = 500;

#[derive(Serialize)]
pub struct ProspectView {
    #[serde(flatten)]
    customer: Customer,
    /// The customer's numbers that are in DNC.
    opted_out_phones: Vec<String>,
}

/// `GET /api/prospects/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProspectView>, ApiError> {
    let customer = state.store.get_customer(&id).await?;
    let opted_out_phones = state.store.dnc_lookup(&customer.phones()).await?;
    Ok(Json(ProspectView {
        customer,
        opted_out_phones,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveBody {
    #[serde(default)]
    archived: Option<bool>,
}

/// `PATCH /api/prospects/{id}/archive` (body optional, `{"archived": false}` unarchives).
pub async fn archive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    input: Option<Json<ArchiveBody>>,
) -> Result<Json<Customer>, ApiError> {
    let archived = input.and_then(|Json(b)| b.archived).unwrap_or(true);
    Ok(Json(state.store.set_archived(&id, archived).await?))
}

/// `PATCH /api/prospects/{id}/unarchive`
pub async fn unarchive(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(state.store.set_archived(&id, false).await?))
}

/// Contact fields an edit may change; absent fields stay, `null`/`""` clears a phone.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    name: Option<String>,
    company: Option<String>,
    vat: Option<String>,
    address: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
    email: Option<String>,
    website: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    mobile: Option<Option<String>>,
    language: Option<String>,
    language_confirmed: Option<bool>,
    wa_preferred: Option<bool>,
    /// Values by field key; `null` removes one.
    custom: Option<Map<String, Value>>,
    /// Deliveries only.
    tags: Option<Vec<String>>,
    /// Deliveries only.
    notes: Option<String>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

fn text(field: &str, v: Option<String>, slot: &mut String) -> Result<(), ApiError> {
    if let Some(v) = v {
        let v = v.trim().to_owned();
        if v.chars().count() > MAX_TEXT {
            return Err(ApiError::invalid(
                "invalid_parameter",
                field,
                format!("{field} is limited to {MAX_TEXT} characters"),
            ));
        }
        *slot = v;
    }
    Ok(())
}

impl ContactPatch {
    /// Applies the patch to `c`, validating every changed field.
    async fn apply(&self, state: &AppState, c: &mut Contact) -> Result<(), ApiError> {
        let p = self.clone();
        text("name", p.name, &mut c.name)?;
        text("company", p.company, &mut c.company)?;
        text("vat", p.vat, &mut c.vat)?;
        text("address", p.address, &mut c.address)?;
        text("city", p.city, &mut c.city)?;
        text("postal_code", p.postal_code, &mut c.postal_code)?;
        text("country", p.country, &mut c.country)?;
        text("website", p.website, &mut c.website)?;
        if let Some(email) = p.email {
            let email = email.trim().to_owned();
            let ok = email.is_empty()
                || email
                    .split_once('@')
                    .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !email.contains(' '));
            if !ok {
                return Err(ApiError::invalid(
                    "invalid_email",
                    "email",
                    format!("{email:?} is not an email address"),
                ));
            }
            c.email = email;
        }
        for (field, value, slot) in [
            ("phone", p.phone, &mut c.phone),
            ("mobile", p.mobile, &mut c.mobile),
        ] {
            if let Some(value) = value {
                *slot = match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                    None => None,
                    Some(raw) => Some(
                        E164::normalize(raw, state.region)
                            .map_err(|e| {
                                ApiError::invalid(e.code(), field, format!("{raw:?}: {e}"))
                            })?
                            .into_string(),
                    ),
                };
            }
        }
        if let Some(lang) = p.language {
            let lang = lang.trim().to_ascii_lowercase();
            if lang.len() > 8 || !lang.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                return Err(ApiError::invalid(
                    "invalid_parameter",
                    "language",
                    "language must be a code such as nl, fr, de, en",
                ));
            }
            c.language = lang;
        }
        if let Some(v) = p.language_confirmed {
            c.language_confirmed = v;
        }
        if let Some(v) = p.wa_preferred {
            c.wa_preferred = v;
        }
        if let Some(custom) = p.custom {
            let defs = state.store.list_field_defs().await?;
            for (key, value) in custom {
                let field = format!("custom.{key}");
                if value.is_null() {
                    c.custom.remove(&key);
                    continue;
                }
                let def = defs.iter().find(|d| d.key == key).ok_or_else(|| {
                    ApiError::invalid(
                        "unknown_field",
                        &field,
                        format!("no field definition {key:?}"),
                    )
                })?;
                let regex = def
                    .regex
                    .as_deref()
                    .map(compile)
                    .transpose()
                    .map_err(|e| ApiError::invalid("invalid_value", &field, e.to_string()))?;
                check_value(def, regex.as_ref(), &value).map_err(|e| {
                    ApiError::invalid("invalid_value", &field, format!("{key}: {e}"))
                })?;
                c.custom.insert(key, value);
            }
        }
        Ok(())
    }
}

/// Reads, edits and writes the customer, retrying on a concurrent change.
async fn edit<F>(
    state: &AppState,
    id: &str,
    patch: &ContactPatch,
    pick: F,
) -> Result<Customer, ApiError>
where
    F: Fn(&mut Customer) -> Result<&mut Contact, ApiError>,
{
    for _ in 0..EDIT_ATTEMPTS {
        let mut customer = state.store.get_customer(id).await?;
        let contact = pick(&mut customer)?;
        patch.apply(state, contact).await?;
        match state.store.replace_customer(customer).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict { field }) if field == "version" => continue,
            Err(StoreError::Conflict { field }) if field == "upsert_key" => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "duplicate_prospect",
                    "another prospect already has this invoice phone (or name and email)",
                )
                .with_field("phone"));
            }
            Err(StoreError::Invalid(why)) => {
                return Err(ApiError::invalid("missing_key", "phone", why))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "concurrent_edit",
        "the prospect kept changing; retry",
    )
    .with_field("version"))
}

/// `PATCH /api/prospects/{id}/invoice`
pub async fn edit_invoice(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ContactPatch>,
) -> Result<Json<Customer>, ApiError> {
    if patch.tags.is_some() || patch.notes.is_some() {
        return Err(ApiError::invalid(
            "invalid_parameter",
            "tags",
            "tags and notes belong to deliveries",
        ));
    }
    Ok(Json(
        edit(&state, &id, &patch, |c| Ok(&mut c.invoice)).await?,
    ))
}

/// `PATCH /api/prospects/{id}/delivery/{code}`
pub async fn edit_delivery(
    State(state): State<AppState>,
    Path((id, code)): Path<(String, String)>,
    JsonBody(patch): JsonBody<ContactPatch>,
) -> Result<Json<Customer>, ApiError> {
    let saved = edit(&state, &id, &patch, |c| {
        let d = c
            .delivery_addresses
            .iter_mut()
            .find(|d| d.code == code)
            .ok_or_else(|| {
                ApiError::not_found(format!("no delivery {code:?}")).with_field("code")
            })?;
        if let Some(tags) = &patch.tags {
            d.tags = normalize_tags(tags.clone());
        }
        if let Some(notes) = &patch.notes {
            d.notes = notes.trim().chars().take(2000).collect();
        }
        Ok(&mut d.contact)
    })
    .await?;
    Ok(Json(saved))
}

/// `GET /api/prospects/{id}/logs?page=&page_size=`: its calls, newest first.
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::http::Params(params): crate::http::Params,
) -> Result<Json<crate::http::Paged<crate::calls::view::CallView>>, ApiError> {
    state.store.get_customer(&id).await?;
    let page = crate::http::number(&params, "page", 1, 1_000_000)?;
    let page_size = crate::http::number(&params, "page_size", 50, 500)?;
    let result = state
        .store
        .list_calls(&CallQuery {
            customer_id: Some(id.into()),
            offset: (page - 1) * page_size,
            limit: page_size,
            ..CallQuery::default()
        })
        .await?;
    Ok(Json(crate::http::Paged {
        items: result
            .items
            .into_iter()
            .map(crate::calls::view::CallView::from)
            .collect(),
        page,
        page_size,
        has_more: result.has_more,
    }))
}
