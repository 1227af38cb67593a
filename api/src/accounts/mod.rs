//! Operator accounts: passwords (policy, Argon2id hashing off the async threads),
//! permissions and roles, browser sessions and per-person API tokens ([`Accounts`]),
//! the login budgets, and the accounts API (`routes`). Who may call which route is in
//! `crate::access`; the edge checks it.

pub mod cookie;
pub mod guard;
pub mod password;
pub mod permissions;
pub mod principal;
mod routes;
pub mod secret;
mod service;
mod tokens;
mod users;

pub use routes::{check_email, routes};
pub use service::{
    Accounts, Clock, Denied, LoginError, SessionSettings, SignedIn, CACHE_MS, TOUCH_MS,
};
