//! Per-client rate limits with `governor`: one GCRA bucket per client IP and budget
//! (REST API, Telnyx webhook, WebSocket upgrades), so a noisy browser cannot starve
//! Telnyx's retries. Refusals carry `Retry-After`; every limited response carries the
//! `RateLimit-Limit/Remaining/Reset` fields. Idle keys are evicted by the housekeeping
//! task so memory stays bounded by the clients seen in the last refill period.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::{Budget, RateLimits};

type Keyed =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    Api,
    Webhook,
    WebSocket,
}

impl BudgetKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Webhook => "webhook",
            Self::WebSocket => "websocket",
        }
    }
}

/// The outcome of a check, with the header values to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again (allowed) or the next request may pass.
    pub reset_secs: u64,
}

impl Decision {
    pub fn headers(&self) -> [(&'static str, u64); 3] {
        [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", u64::from(self.remaining)),
            ("ratelimit-reset", self.reset_secs),
        ]
    }
}

struct Limiter {
    keyed: ArcSwap<Keyed>,
    budget: Budget,
}

impl Limiter {
    fn new(budget: Budget) -> Self {
        Self {
            keyed: ArcSwap::from_pointee(Self::fresh(budget)),
            budget,
        }
    }

    fn fresh(budget: Budget) -> Keyed {
        let per_minute = NonZeroU32::new(budget.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(budget.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()
    }

    fn refill_interval(&self) -> Duration {
        Duration::from_secs(60) / self.budget.per_minute.max(1)
    }

    fn check(&self, ip: IpAddr) -> Decision {
        match self.keyed.load().check_key(&ip) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.budget.burst.saturating_sub(remaining);
                Decision {
                    allowed: true,
                    limit: self.budget.burst,
                    remaining,
                    reset_secs: ceil_secs(self.refill_interval() * used),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision {
                    allowed: false,
                    limit: self.budget.burst,
                    remaining: 0,
                    reset_secs: ceil_secs(wait).max(1),
                }
            }
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// All budgets of the edge.
pub struct RateLimiters {
    api: Limiter,
    webhook: Limiter,
    websocket: Limiter,
    max_tracked: usize,
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            api: Limiter::new(limits.api),
            webhook: Limiter::new(limits.webhook),
            websocket: Limiter::new(limits.websocket),
            max_tracked: limits.max_tracked_clients,
        }
    }

    pub fn check(&self, kind: BudgetKind, ip: IpAddr) -> Decision {
        self.limiter(kind).check(ip)
    }

    fn limiter(&self, kind: BudgetKind) -> &Limiter {
        match kind {
            BudgetKind::Api => &self.api,
            BudgetKind::Webhook => &self.webhook,
            BudgetKind::WebSocket => &self.websocket,
        }
    }

    /// Drops clients whose bucket is full again (they would start fresh anyway). If a
    /// flood of distinct addresses still exceeds the cap, the table is reset: budgets
    /// restart, memory stays bounded.
    pub fn evict_idle(&self) -> usize {
        let mut tracked = 0;
        for l in [&self.api, &self.webhook, &self.websocket] {
            let keyed = l.keyed.load();
            keyed.retain_recent();
            if keyed.len() > self.max_tracked {
                tracing::warn!(
                    clients = keyed.len(),
                    cap = self.max_tracked,
                    "rate limiter over its client cap; resetting budgets"
                );
                l.keyed.store(std::sync::Arc::new(Limiter::fresh(l.budget)));
            } else {
                keyed.shrink_to_fit();
            }
            tracked += l.keyed.load().len();
        }
        tracked
    }

    pub fn tracked(&self) -> usize {
        [&self.api, &self.webhook, &self.websocket]
            .iter()
            .map(|l| l.keyed.load().len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32) -> RateLimits {
        let b = Budget {
            per_minute: 1,
            burst,
        };
        RateLimits {
            api: b,
            webhook: Budget {
                per_minute: 1,
                burst: 1,
            },
            websocket: b,
            max_tracked_clients: 2,
        }
    }

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let rl = RateLimiters::new(&limits(3));
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let remaining: Vec<u32> = (0..3)
            .map(|_| rl.check(BudgetKind::Api, ip))
            .map(|d| {
                assert!(d.allowed);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = rl.check(BudgetKind::Api, ip);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!((1..=60).contains(&refused.reset_secs), "{refused:?}");
    }

    #[test]
    fn budgets_and_clients_are_independent() {
        let rl = RateLimiters::new(&limits(1));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "2001:db8::1".parse().expect("ip");
        assert!(rl.check(BudgetKind::Api, a).allowed);
        assert!(!rl.check(BudgetKind::Api, a).allowed);
        assert!(rl.check(BudgetKind::Api, b).allowed);
        assert!(rl.check(BudgetKind::Webhook, a).allowed);
        assert!(rl.check(BudgetKind::WebSocket, a).allowed);
    }

    #[test]
    fn eviction_caps_memory() {
        let rl = RateLimiters::new(&limits(5));
        for i in 0..10u8 {
            rl.check(BudgetKind::Api, IpAddr::from([10, 0, 0, i]));
        }
        assert_eq!(rl.tracked(), 10);
        rl.evict_idle();
        assert!(rl.tracked() <= 2, "tracked {}", rl.tracked());
    }
}
