//! The probes on the main listeners: `/healthz` for anyone; `/readyz` bare for
//! anyone (load balancers) and with its details (which secrets are missing, which
//! check fails) only with a token; `/metrics` (certificate names, call volumes, auth
//! failures) only with a token or a session with `system.view` unless `metrics.on_main_listeners` says otherwise.
//! Prometheus normally scrapes the separate metrics listener.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::http::RequestHeader;

use super::auth::{may_see_system, Tokens};
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
        Verdict::Answer(match ctx.route {
            Route::Health => probes::healthz(),
            Route::Ready => {
                let detailed = may_see_system(&self.tokens, head, ctx.tls, shared).await;
                probes::readyz(shared, detailed).await
            }
            Route::Metrics
                if self.metrics_public
                    || may_see_system(&self.tokens, head, ctx.tls, shared).await =>
            {
                probes::metrics(shared)
            }
            Route::Metrics => respond::unauthorized(
                "a valid bearer token is required here; Prometheus scrapes the metrics listener",
            ),
            _ => return Verdict::Next,
        })
    }
}
