//! Edge filters: each concern in its own small, unit-tested module. The request
//! pipeline in [`crate::edge`] calls them in a fixed order, top to bottom.

pub mod auth;
pub mod client_ip;
pub mod conn_limit;
pub mod cors;
pub mod headers;
pub mod rate_limit;
pub mod request_id;
