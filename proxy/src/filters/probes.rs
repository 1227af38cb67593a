//! The probes on the main listeners: `/healthz` for anyone; `/readyz` bare for
//! anyone (load balancers) and with its details (which secrets are missing, which
//! check fails) only with a token; `/metrics` (certificate names, call volumes, auth
//! failures) only with a token unless `metrics.on_main_listeners` says otherwise.
//! Prometheus normally scrapes the separate metrics listener.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::RequestHeader;

use super::auth::{check_request, Tokens};
use super::{Ctx, RequestFilter, Verdict};
use crate::config::Config;
use crate::edge::{probes, respond, Shared};
use crate::router::Route;

pub struct Probes {
    tokens: Arc<Tokens>,
    metrics_public: bool,
}

impl Probes {
    pub fn new(tokens: Arc<Tokens>, config: &Config) -> Self {
        Self {
            tokens,
            metrics_public: config.metrics_on_main_listeners,
        }
    }
}

#[async_trait]
impl RequestFilter for Probes {
    async fn request(&self, head: &RequestHeader, ctx: &mut Ctx, shared: &Shared) -> Verdict {
        let authenticated = || check_request(&self.tokens, head, ctx.route).is_ok();
        Verdict::Answer(match ctx.route {
            Route::Health => probes::healthz(),
            Route::Ready => probes::readyz(shared, authenticated()).await,
            Route::Metrics if self.metrics_public || authenticated() => probes::metrics(shared),
            Route::Metrics => respond::unauthorized(
                "a valid bearer token is required here; Prometheus scrapes the metrics listener",
            ),
            _ => return Verdict::Next,
        })
    }
}
