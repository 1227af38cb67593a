//! The campaign dialer's building blocks (issue 17, in progress): where a called
//! person is ([`zones`]) and when a campaign may call them ([`window`]).

pub mod window;
pub mod zones;
