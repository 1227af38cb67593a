//! Connection caps: at most `per_client` open connections per client (an IPv4 address
//! or an IPv6 /64, as for rate limits) and `total` in all, judged when a connection is
//! accepted, before any TLS handshake, so one address cannot take every file
//! descriptor and lock everybody else out (Telnyx's media sockets included).
//!
//! A connection counts from accept: first as pending, until Pingora hands it to the
//! edge (at once: the edge does its own TLS handshake, inside the connection's place),
//! then as open until it closes. Pending entries the edge never receives (a connection
//! Pingora dropped on the way) expire after [`HANDSHAKE_GRACE`]. Clients in `exempt` (a load balancer in front, loopback
//! monitoring) count toward `total` only.
//!
//! When the table is nearly full (90%) or refuses a connection for the total, it tells
//! the connections idling in keep-alive to close ([`ConnLimits::shed`]): idle clients
//! must not keep active ones out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::rate_limit::client_key;

/// Longer than anything Pingora does between accept and hand-over (its own TLS
/// handshake, were it used, is bounded at 60 s).
pub const HANDSHAKE_GRACE: Duration = Duration::from_secs(61);

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerClient,
    Total,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::PerClient => "per_client",
            Self::Total => "total",
        }
    }
}

#[derive(Debug, Default)]
struct Client {
    open: usize,
    /// Accept times of connections not yet received by the edge.
    pending: VecDeque<Instant>,
}

#[derive(Debug, Default)]
struct Table {
    clients: HashMap<IpAddr, Client>,
    open: usize,
    pending: usize,
}

impl Table {
    fn expire(&mut self, key: IpAddr, now: Instant) {
        if let Some(c) = self.clients.get_mut(&key) {
            while c
                .pending
                .front()
                .is_some_and(|t| now.duration_since(*t) > HANDSHAKE_GRACE)
            {
                c.pending.pop_front();
                self.pending -= 1;
            }
            if c.open == 0 && c.pending.is_empty() {
                self.clients.remove(&key);
            }
        }
    }
}

#[derive(Debug)]
pub struct ConnLimits {
    per_client: usize,
    total: usize,
    exempt: Vec<IpNet>,
    table: Mutex<Table>,
    shed: tokio::sync::Notify,
}

/// Table use from which idle connections are asked to close.
pub const SHED_AT: f64 = 0.9;

impl ConnLimits {
    pub fn new(per_client: usize, total: usize, exempt: Vec<IpNet>) -> Self {
        Self {
            per_client: per_client.max(1),
            total: total.max(1),
            exempt,
            table: Mutex::default(),
            shed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// At accept: whether `ip` may open another connection (then it counts as pending).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let key = client_key(ip);
        let mut t = self.lock();
        t.expire(key, now);
        if t.open + t.pending >= self.total {
            // Expired entries of other clients may still count: sweep them once.
            let keys: Vec<IpAddr> = t.clients.keys().copied().collect();
            for k in keys {
                t.expire(k, now);
            }
            if t.open + t.pending >= self.total {
                drop(t);
                self.shed.notify_waiters();
                return Err(Refusal::Total);
            }
        }
        let exempt = self.exempt.iter().any(|n| n.contains(&ip));
        let c = t.clients.entry(key).or_default();
        if !exempt && c.open + c.pending.len() >= self.per_client {
            return Err(Refusal::PerClient);
        }
        c.pending.push_back(now);
        t.pending += 1;
        let used = t.open + t.pending;
        drop(t);
        if used as f64 >= SHED_AT * self.total as f64 {
            self.shed.notify_waiters();
        }
        Ok(())
    }

    /// Resolves when the table asks idle connections to close (create it before
    /// waiting, so no request to shed is missed).
    pub fn shed(&self) -> tokio::sync::futures::Notified<'_> {
        self.shed.notified()
    }

    /// When the edge receives the connection (after any handshake): it is open until
    /// the returned slot drops. `ip` is `None` for Unix sockets (never admitted).
    pub fn arrived(self: &Arc<Self>, ip: Option<IpAddr>, now: Instant) -> Slot {
        let key = ip.map(client_key);
        let mut t = self.lock();
        t.open += 1;
        if let Some(key) = key {
            t.expire(key, now);
            let had_pending = {
                let c = t.clients.entry(key).or_default();
                c.open += 1;
                c.pending.pop_front().is_some()
            };
            if had_pending {
                t.pending -= 1;
            }
        }
        Slot {
            limits: Arc::clone(self),
            key,
        }
    }

    /// Open connections and pending handshakes, for the metrics.
    pub fn counts(&self) -> (usize, usize) {
        let t = self.lock();
        (t.open, t.pending)
    }

    /// How full the table is, 0.0 to 1.0 (the edge shortens keep-alive when high).
    pub fn pressure(&self) -> f64 {
        let (open, pending) = self.counts();
        (open + pending) as f64 / self.total as f64
    }
}

/// An open connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnLimits>,
    key: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.limits.lock();
        t.open = t.open.saturating_sub(1);
        if let Some(key) = self.key {
            if let Some(c) = t.clients.get_mut(&key) {
                c.open = c.open.saturating_sub(1);
                if c.open == 0 && c.pending.is_empty() {
                    t.clients.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let limits = Arc::new(ConnLimits::new(2, 10, Vec::new()));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(limits.admit(a, t0), Ok(()));
        assert_eq!(limits.admit(a, t0), Ok(()));
        assert_eq!(limits.admit(a, t0), Err(Refusal::PerClient));
        // Another address of the same IPv6 /64 is the same client.
        let v6 = ip("2001:db8::1");
        assert_eq!(limits.admit(v6, t0), Ok(()));
        assert_eq!(limits.admit(ip("2001:db8::2"), t0), Ok(()));
        assert_eq!(limits.admit(ip("2001:db8::3"), t0), Err(Refusal::PerClient));
        assert_eq!(
            limits.admit(ip("192.0.2.2"), t0),
            Ok(()),
            "others are unaffected"
        );
        // One closes: its place is free again.
        let slot = limits.arrived(Some(a), t0);
        let _other = limits.arrived(Some(a), t0);
        assert_eq!(limits.admit(a, t0), Err(Refusal::PerClient));
        drop(slot);
        assert_eq!(limits.admit(a, t0), Ok(()));
    }

    #[test]
    fn handshakes_that_never_arrive_expire() {
        let limits = Arc::new(ConnLimits::new(1, 10, Vec::new()));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(limits.admit(a, t0), Ok(()));
        assert_eq!(
            limits.admit(a, t0 + HANDSHAKE_GRACE),
            Err(Refusal::PerClient)
        );
        let later = t0 + HANDSHAKE_GRACE + Duration::from_secs(1);
        assert_eq!(limits.admit(a, later), Ok(()));
        assert_eq!(limits.counts(), (0, 1));
    }

    #[test]
    fn the_total_holds_for_everyone_and_exempt_clients_count_toward_it() {
        let exempt = vec!["10.0.0.0/8".parse().expect("cidr")];
        let limits = Arc::new(ConnLimits::new(1, 3, exempt));
        let t0 = Instant::now();
        let lb = ip("10.1.2.3");
        assert_eq!(limits.admit(lb, t0), Ok(()));
        assert_eq!(
            limits.admit(lb, t0),
            Ok(()),
            "exempt from the per-client cap"
        );
        assert_eq!(limits.admit(ip("192.0.2.9"), t0), Ok(()));
        assert_eq!(limits.admit(ip("192.0.2.10"), t0), Err(Refusal::Total));
        let _unix = limits.arrived(None, t0);
        assert_eq!(limits.counts(), (1, 3));
        assert!((limits.pressure() - 4.0 / 3.0).abs() < 1e-9);
    }
}
