//! Body sizes per route class (JSON 1 MiB, uploads 50 MiB, webhooks 1 MiB by default):
//! a declared `Content-Length` over the route's limit is refused with 413 before a
//! byte of the body is read, and the connection is not reused. The limit also travels
//! in the request context, so a chunked body is cut at the same size as it streams.

use async_trait::async_trait;
use pingora::http::RequestHeader;

use super::{Ctx, RequestFilter, Verdict};
use crate::config::{BodyLimits, Config};
use crate::edge::{respond, Shared};
use crate::router::BodyClass;

pub struct BodyLimit {
    limits: BodyLimits,
}

impl BodyLimit {
    pub fn new(config: &Config) -> Self {
        Self {
            limits: config.limits,
        }
    }

    fn limit(&self, class: BodyClass) -> u64 {
        match class {
            BodyClass::None => 0,
            BodyClass::Json => self.limits.json,
            BodyClass::Upload => self.limits.upload,
            BodyClass::Webhook => self.limits.webhook,
        }
    }
}

#[async_trait]
impl RequestFilter for BodyLimit {
    async fn request(&self, head: &RequestHeader, ctx: &mut Ctx, _shared: &Shared) -> Verdict {
        let limit = self.limit(ctx.route.body_class());
        ctx.body_limit = limit;
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_none_or(|len| len <= limit) {
            return Verdict::Next;
        }
        ctx.close = true;
        Verdict::Answer(respond::error(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &format!("request body is limited to {limit} bytes on this route"),
        ))
    }
}
