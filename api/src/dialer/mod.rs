//! The campaign dialer's building blocks (issue 17, in progress): who an audience
//! holds ([`audience`]), where a called person is ([`zones`]) and when a campaign may
//! call them ([`window`]).

pub mod audience;
pub mod window;
pub mod zones;
