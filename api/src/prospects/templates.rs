//! `GET /api/prospects/template.csv` and `/deliveries_template.csv`: the header rows
//! users fill in Excel: the contact columns of [`super::columns`], then `custom_<key>` for each field definition
//! visible to that kind of contact, in definition order.

use axum::extract::State;
use axum::response::Response;

use super::columns;
use crate::csv_out::push_line;
use crate::http::ApiError;
use crate::model::Visibility;
use crate::AppState;

async fn header_row(
    state: &AppState,
    base: impl Iterator<Item = String>,
    side: Visibility,
) -> Result<String, ApiError> {
    let defs = state.store.list_field_defs().await?;
    let mut columns: Vec<String> = base.collect();
    columns.extend(
        defs.iter()
            .filter(|d| d.visibility.shows_on(side))
            .map(|d| format!("custom_{}", d.key)),
    );
    let mut out = String::new();
    push_line(&mut out, &columns);
    Ok(out)
}

fn attachment(body: String, filename: &'static str) -> Response {
    crate::csv_out::attachment(body.into(), filename)
}

/// `GET /api/prospects/template.csv`
pub async fn prospects(State(state): State<AppState>) -> Result<Response, ApiError> {
    let row = header_row(&state, columns::invoice_header(), Visibility::Invoice).await?;
    Ok(attachment(row, "prospects_template.csv"))
}

/// `GET /api/prospects/deliveries_template.csv`
pub async fn deliveries(State(state): State<AppState>) -> Result<Response, ApiError> {
    let row = header_row(
        &state,
        columns::deliveries_template_header(),
        Visibility::Delivery,
    )
    .await?;
    Ok(attachment(row, "deliveries_template.csv"))
}
