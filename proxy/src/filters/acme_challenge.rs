//! ACME HTTP-01 challenges on the plaintext listeners: `/.well-known/acme-challenge/
//! <token>` is answered from `data_dir/acme/http-01/<token>` before anything else
//! (no token, no rate budget), as the certificate authority expects.

use std::path::PathBuf;

use async_trait::async_trait;
use pingora::http::RequestHeader;

use super::{Ctx, RequestFilter, Verdict};
use crate::config::Config;
use crate::edge::redirect::{acme_challenge, ACME_PREFIX};
use crate::edge::Shared;

pub struct AcmeChallenge {
    data_dir: PathBuf,
}

impl AcmeChallenge {
    pub fn new(config: &Config) -> Self {
        Self {
            data_dir: config.data_dir.clone(),
        }
    }
}

#[async_trait]
impl RequestFilter for AcmeChallenge {
    async fn request(&self, head: &RequestHeader, ctx: &mut Ctx, _shared: &Shared) -> Verdict {
        if ctx.tls {
            return Verdict::Next;
        }
        match head.uri.path().strip_prefix(ACME_PREFIX) {
            Some(token) => Verdict::Answer(acme_challenge(&self.data_dir, token).await),
            None => Verdict::Next,
        }
    }
}
