//! Operator accounts: passwords (policy, Argon2id hashing off the async threads) and
//! permissions with the built-in roles. Users are stored through
//! `crate::store::UserStore`; sessions, tokens and the login routes build on these.

pub mod password;
pub mod permissions;
