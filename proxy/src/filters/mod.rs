//! The edge's request filters, River-style: each concern is one [`RequestFilter`] in
//! its own small, unit-tested file, and [`Live::build`] lists them in the order the
//! edge runs them. Everything here that a reload may change (tokens, CORS origins,
//! rate budgets) is built from the configuration in that one place and swapped as one
//! unit, at start and on SIGHUP.
//!
//! Adding a filter: its file (state, `RequestFilter` impl, tests), one entry in
//! [`Live::build`], and its configuration section.

pub mod acme_challenge;
pub mod auth;
pub mod body_limit;
pub mod client_ip;
pub mod conn_limit;
pub mod cors;
pub mod headers;
pub mod probes;
pub mod rate_limit;
pub mod request_id;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::body::Body;
use http::HeaderMap;
use pingora::http::RequestHeader;

use crate::config::Config;
use crate::edge::Shared;
use crate::router::Route;

/// Per-request facts the filters read and write, and the log and metrics use.
pub struct Ctx {
    pub started: Instant,
    pub request_id: String,
    pub route: Route,
    pub client_ip: IpAddr,
    pub tls: bool,
    /// The rate-limit decision, once the rate filter ran (its headers go on the answer).
    pub rate: Option<rate_limit::Decision>,
    /// Most body bytes the route accepts (set by the body-limit filter).
    pub body_limit: u64,
    /// The connection must not be reused after the answer (its body was not read).
    pub close: bool,
    /// Who the request acts as, once the auth filter checked its credential.
    pub principal: Option<Arc<agent5_api::accounts::principal::Principal>>,
}

/// What a filter decided.
pub enum Verdict {
    /// On to the next filter (and then the route).
    Next,
    /// Answer now with this response.
    Answer(http::Response<Body>),
}

/// One concern of the request pipeline.
#[async_trait]
pub trait RequestFilter: Send + Sync {
    /// Looks at the request; may answer it.
    async fn request(&self, head: &RequestHeader, ctx: &mut Ctx, shared: &Shared) -> Verdict;

    /// Adds this filter's headers to every answer of the main listeners.
    fn response(&self, _head: &RequestHeader, _ctx: &Ctx, _headers: &mut HeaderMap) {}
}

/// The filter chain and what else reloads, built from one configuration.
pub struct Live {
    pub filters: Vec<Box<dyn RequestFilter>>,
    pub tokens: Arc<auth::Tokens>,
    pub limiters: Arc<rate_limit::RateLimiters>,
}

impl Live {
    /// The filters in the order they run: CORS preflight, ACME challenge, probes, rate
    /// limit, auth, body limit.
    pub fn build(config: &Config) -> Self {
        let tokens = Arc::new(auth::Tokens::new(config.auth_tokens.clone()));
        let limiters = Arc::new(rate_limit::RateLimiters::new(&config.rate_limits));
        let filters: Vec<Box<dyn RequestFilter>> = vec![
            Box::new(cors::Cors::new(config.cors.clone())),
            Box::new(acme_challenge::AcmeChallenge::new(config)),
            Box::new(probes::Probes::new(Arc::clone(&tokens), config)),
            Box::new(rate_limit::RateLimit::new(Arc::clone(&limiters))),
            Box::new(auth::Auth::new(Arc::clone(&tokens), config)),
            Box::new(body_limit::BodyLimit::new(config)),
        ];
        Self {
            filters,
            tokens,
            limiters,
        }
    }
}
