//! `GET /api/prospects/template.csv` and `/deliveries_template.csv`: the header rows
//! users fill in Excel: base columns, then `custom_<key>` for each field definition
//! visible to that kind of contact, in definition order.

use axum::extract::State;
use axum::http::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::csv_out::push_line;
use crate::{ApiError, AppState};

/// The prospects upload's base columns (the Node backend's names, kept as they were).
pub const PROSPECT_COLUMNS: [&str; 16] = [
    "invoice_contact_name",
    "invoice_company",
    "invoice_vat",
    "invoice_address",
    "invoice_city",
    "invoice_postal_code",
    "invoice_country",
    "invoice_email",
    "invoice_website",
    "invoice_phone",
    "invoice_mobile_nr",
    "invoice_language",
    "invoice_language_confirmed",
    "invoice_wa_preferred",
    "invoice_tags",
    "invoice_opt_out",
];

/// The deliveries-only upload's columns.
pub const DELIVERY_COLUMNS: [&str; 17] = [
    "parent_invoice_phone",
    "parent_invoice_mobile",
    "parent_email",
    "delivery_contact_name",
    "delivery_company",
    "delivery_address",
    "delivery_city",
    "delivery_postal_code",
    "delivery_country",
    "delivery_email",
    "delivery_phone",
    "delivery_mobile",
    "delivery_language",
    "delivery_language_confirmed",
    "delivery_wa_preferred",
    "delivery_tags",
    "delivery_opt_out",
];

async fn header_row(state: &AppState, base: &[&str], visible_to: &str) -> Result<String, ApiError> {
    let defs = state.store.list_field_defs().await?;
    let mut columns: Vec<String> = base.iter().map(|c| (*c).to_owned()).collect();
    columns.extend(
        defs.iter()
            .filter(|d| d.visibility == visible_to || d.visibility == "both")
            .map(|d| format!("custom_{}", d.key)),
    );
    let mut out = String::new();
    push_line(&mut out, &columns);
    Ok(out)
}

fn attachment(body: String, filename: &'static str) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    res
}

/// `GET /api/prospects/template.csv`
pub async fn prospects(State(state): State<AppState>) -> Result<Response, ApiError> {
    let row = header_row(&state, &PROSPECT_COLUMNS, "invoice").await?;
    Ok(attachment(row, "prospects_template.csv"))
}

/// `GET /api/prospects/deliveries_template.csv`
pub async fn deliveries(State(state): State<AppState>) -> Result<Response, ApiError> {
    let row = header_row(&state, &DELIVERY_COLUMNS, "delivery").await?;
    Ok(attachment(row, "deliveries_template.csv"))
}
