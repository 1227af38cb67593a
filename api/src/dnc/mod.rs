//! The do-not-call list: paged and searchable, exported as CSV. Numbers enter it by an
//! opt-out (`crate::prospects::list::set_opt_out`), by the agent's `opt_out` tool, or by
//! a DNC upload (`crate::import::routes`); nothing removes one silently.

pub mod list;

use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/dnc", get(list::list))
        .route("/api/dnc/export.csv", get(list::export))
}
