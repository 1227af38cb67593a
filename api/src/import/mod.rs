//! CSV import of prospects, deliveries and DNC numbers: decoding, header layout, row
//! parsing, and the upload routes. Each stage is a plain function or reader over
//! `std::io::Read`, so the HTTP upload and the `agent5 import` command run the same code.

pub mod decode;
pub mod dnc;
pub mod layout;
pub mod records;
pub mod row;
pub mod run;
pub mod upload;

pub use layout::Target;
pub use run::{import_deliveries, import_prospects, ImportError, Options, Report};

use axum::routing::post;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/prospects/upload", post(upload::prospects))
        .route("/api/prospects/upload_deliveries", post(upload::deliveries))
        .route("/api/dnc/import", post(upload::dnc))
}
