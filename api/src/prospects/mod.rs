//! Prospects: customers with their invoice contact and up to ten deliveries. The list
//! and its filters, one prospect (view, edit, archive, logs), opt-out by phone, custom
//! field definitions, the CSV templates and the export. The CSV import is `crate::import`;
//! the columns every CSV shares are in [`columns`].

pub mod columns;
pub mod edit;
pub mod export;
pub mod field_defs;
pub mod list;
pub mod templates;

use axum::routing::{get, patch};
use axum::Router;

use crate::AppState;

/// The prospect routes (the uploads are `crate::import::routes`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/prospects", get(list::list))
        .route("/api/prospects/template.csv", get(templates::prospects))
        .route("/api/prospects/export.csv", get(export::export))
        .route(
            "/api/prospects/deliveries_template.csv",
            get(templates::deliveries),
        )
        .route(
            "/api/prospects/field-defs",
            get(field_defs::list).post(field_defs::create),
        )
        .route(
            "/api/prospects/field-defs/{id}",
            patch(field_defs::update).delete(field_defs::delete),
        )
        .route("/api/prospects/{id}", get(edit::get))
        .route("/api/prospects/{id}/archive", patch(edit::archive))
        .route("/api/prospects/{id}/unarchive", patch(edit::unarchive))
        .route("/api/prospects/{id}/invoice", patch(edit::edit_invoice))
        .route(
            "/api/prospects/{id}/delivery/{code}",
            patch(edit::edit_delivery),
        )
        .route("/api/prospects/{id}/logs", get(edit::logs))
        .route(
            "/api/prospects/phone/{e164}/opt-out",
            patch(list::set_opt_out),
        )
}
