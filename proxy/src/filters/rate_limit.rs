//! Per-client rate limits: one GCRA bucket per client and budget (REST API, Telnyx
//! webhook, WebSocket upgrades), so a noisy browser cannot starve Telnyx's retries.
//! Refusals carry `Retry-After`; every limited response carries the
//! `RateLimit-Limit/Remaining/Reset` fields.
//!
//! A client is an IPv4 address, or an IPv6 /64 (one subscriber's prefix: a host can
//! pick any address inside it, so per-address buckets would give it unlimited budget).
//! Memory is bounded by `max_tracked_clients` per budget: the housekeeping task drops
//! buckets that are full again (removing one changes nothing for its client), and
//! when a flood of new clients fills the table, further newcomers share one overflow
//! bucket until room frees up. Nobody's budget is ever refunded: an active client
//! keeps its bucket whatever the flood does.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Budget, RateLimits};

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

// Names built once: a `&str` name is parsed and hashed again on every insert.
const LIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit-limit");
const REMAINING: http::HeaderName = http::HeaderName::from_static("ratelimit-remaining");
const RESET: http::HeaderName = http::HeaderName::from_static("ratelimit-reset");

impl Decision {
    pub fn headers(&self) -> [(http::HeaderName, u64); 3] {
        [
            (LIMIT, u64::from(self.limit)),
            (REMAINING, u64::from(self.remaining)),
            (RESET, self.reset_secs),
        ]
    }
}

/// The client a request is counted against: the IPv4 address, or the IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Where newcomers are counted while the table is full (never a real client key: the
/// unspecified address cannot connect).
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
const SHARDS: usize = 16;

/// One budget's buckets: GCRA, each client's state being the theoretical arrival time
/// of its next request (`tat`); a bucket is full again once `tat <= now`.
struct Limiter {
    budget: Budget,
    /// Time to earn one request back.
    interval: Duration,
    /// How far ahead of now `tat` may run: the burst.
    tolerance: Duration,
    shards: [Mutex<HashMap<IpAddr, Instant>>; SHARDS],
    hasher: RandomState,
    max_per_shard: usize,
}

impl Limiter {
    fn new(budget: Budget, max_tracked: usize) -> Self {
        let interval = Duration::from_secs(60) / budget.per_minute.max(1);
        Self {
            budget,
            interval,
            tolerance: interval * budget.burst.max(1),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
            max_per_shard: max_tracked.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        let i = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self, ip: IpAddr, now: Instant) -> Decision {
        let key = client_key(ip);
        let mut shard = self.shard(&key);
        let key = if shard.contains_key(&key) || shard.len() < self.max_per_shard {
            key
        } else {
            drop(shard);
            shard = self.shard(&OVERFLOW);
            OVERFLOW
        };
        let tat = shard.get(&key).copied().unwrap_or(now).max(now);
        let next = tat + self.interval;
        let limit = self.budget.burst.max(1);
        if next.duration_since(now) > self.tolerance {
            return Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset_secs: ceil_secs(next.duration_since(now) - self.tolerance).max(1),
            };
        }
        shard.insert(key, next);
        let ahead = next.duration_since(now);
        let remaining = (self.tolerance - ahead).as_nanos() / self.interval.as_nanos().max(1);
        Decision {
            allowed: true,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_secs: ceil_secs(ahead),
        }
    }

    /// Drops the buckets that are full again; returns how many are left.
    fn evict_idle(&self, now: Instant) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                s.retain(|_, tat| *tat > now);
                s.shrink_to_fit();
                s.len()
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
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
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Self {
        let max = limits.max_tracked_clients;
        Self {
            api: Limiter::new(limits.api, max),
            webhook: Limiter::new(limits.webhook, max),
            websocket: Limiter::new(limits.websocket, max),
        }
    }

    pub fn check(&self, kind: BudgetKind, ip: IpAddr) -> Decision {
        self.check_at(kind, ip, Instant::now())
    }

    fn check_at(&self, kind: BudgetKind, ip: IpAddr, now: Instant) -> Decision {
        self.limiter(kind).check(ip, now)
    }

    fn limiter(&self, kind: BudgetKind) -> &Limiter {
        match kind {
            BudgetKind::Api => &self.api,
            BudgetKind::Webhook => &self.webhook,
            BudgetKind::WebSocket => &self.websocket,
        }
    }

    /// Drops clients whose bucket is full again (they would start fresh anyway);
    /// returns how many clients are still tracked.
    pub fn evict_idle(&self) -> usize {
        self.evict_idle_at(Instant::now())
    }

    fn evict_idle_at(&self, now: Instant) -> usize {
        [&self.api, &self.webhook, &self.websocket]
            .iter()
            .map(|l| l.evict_idle(now))
            .sum()
    }

    pub fn tracked(&self) -> usize {
        [&self.api, &self.webhook, &self.websocket]
            .iter()
            .map(|l| l.len())
            .sum()
    }
}

/// The filter: spends one token of the route's budget for the client (its IPv4
/// address or IPv6 /64), or answers 429 with `Retry-After`; the answer carries the
/// `RateLimit-*` headers either way.
pub struct RateLimit {
    limiters: std::sync::Arc<RateLimiters>,
}

impl RateLimit {
    pub fn new(limiters: std::sync::Arc<RateLimiters>) -> Self {
        Self { limiters }
    }
}

#[async_trait::async_trait]
impl super::RequestFilter for RateLimit {
    async fn request(
        &self,
        _head: &pingora::http::RequestHeader,
        ctx: &mut super::Ctx,
        shared: &crate::edge::Shared,
    ) -> super::Verdict {
        let Some(budget) = ctx.route.budget() else {
            return super::Verdict::Next;
        };
        let decision = self.limiters.check(budget, ctx.client_ip);
        ctx.rate = Some(decision);
        if decision.allowed {
            return super::Verdict::Next;
        }
        shared
            .metrics
            .rate_limited
            .with_label_values(&[budget.label()])
            .inc();
        let mut res = crate::edge::respond::error(
            http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry after the time in Retry-After",
        );
        res.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(decision.reset_secs),
        );
        super::Verdict::Answer(res)
    }

    fn response(
        &self,
        _head: &pingora::http::RequestHeader,
        ctx: &super::Ctx,
        headers: &mut http::HeaderMap,
    ) {
        if let Some(rate) = &ctx.rate {
            for (name, value) in rate.headers() {
                headers.insert(name, http::HeaderValue::from(value));
            }
        }
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
            // Room for every client of a test: clients hashed into a full shard would
            // share the overflow bucket (by design; the eviction test sets its own cap).
            max_tracked_clients: 1000,
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
    fn ipv6_clients_are_counted_by_64_and_mapped_ipv4_as_ipv4() {
        let rl = RateLimiters::new(&limits(1));
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(rl.check(BudgetKind::Api, a).allowed);
        assert!(!rl.check(BudgetKind::Api, b).allowed, "the same /64");
        assert!(rl.check(BudgetKind::Api, other).allowed, "another /64");
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert!(rl.check(BudgetKind::Api, v4).allowed);
        assert!(!rl.check(BudgetKind::Api, mapped).allowed);
    }

    #[test]
    fn eviction_drops_only_full_buckets_and_a_flood_never_refunds_anyone() {
        let mut l = limits(3);
        l.max_tracked_clients = 32; // two per shard
        let rl = RateLimiters::new(&l);
        let t0 = Instant::now();
        let active: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert!(rl.check_at(BudgetKind::Api, active, t0).allowed);
        }
        assert!(!rl.check_at(BudgetKind::Api, active, t0).allowed);
        // A flood of 100k addresses: memory stays bounded, and the active client's
        // empty bucket stays empty through every eviction.
        for i in 0..100_000u32 {
            rl.check_at(BudgetKind::Api, IpAddr::from(i.to_be_bytes()), t0);
            if i % 10_000 == 0 {
                rl.evict_idle_at(t0);
            }
        }
        assert!(rl.tracked() <= 32 + 1, "tracked {}", rl.tracked());
        assert!(!rl.check_at(BudgetKind::Api, active, t0).allowed);
        // One refill interval (60 s at 1 a minute) later it has earned one request.
        let later = t0 + Duration::from_secs(60);
        assert!(rl.check_at(BudgetKind::Api, active, later).allowed);
        assert!(!rl.check_at(BudgetKind::Api, active, later).allowed);
        // Once everyone's bucket is full again, eviction empties the table.
        assert_eq!(rl.evict_idle_at(t0 + Duration::from_secs(3600)), 0);
    }
}
