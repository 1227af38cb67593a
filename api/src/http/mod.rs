//! What every route shares: the one error type ([`ApiError`]), the query string
//! ([`Params`]) with its numbers and flags, the JSON body ([`JsonBody`]) refused in the
//! API's shape, and the acting person ([`Actor`]). A handler needs nothing else from
//! HTTP to validate its input.

mod actor;
mod body;
mod error;
mod paged;
mod params;

pub use actor::{request_id, Actor};
pub use body::JsonBody;
pub use error::{log_outcome, ApiError};
pub use paged::Paged;
pub use params::{date, flag, number, number_or, Params};
