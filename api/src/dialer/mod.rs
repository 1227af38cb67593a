//! The campaign dialler: who an audience holds ([`audience`]), where a called person
//! is ([`zones`]), when a campaign may call them ([`window`]), what a finished call was
//! ([`outcome`]), and the loop that dials ([`engine`]).

pub mod audience;
pub mod engine;
pub mod metrics;
pub mod outcome;
pub mod window;
pub mod zones;

pub use engine::{Dialer, DialerSettings, Now, SystemNow, TickReport};
pub use metrics::DialerMetrics;
