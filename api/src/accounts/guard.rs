//! Login budgets: failed sign-ins counted per client address and per account (by the
//! email typed, known or not, so the budget says nothing about which emails exist).
//!
//! Within a 15-minute window an account may fail 5 times and an address 20 times
//! freely; each further attempt waits 1 s, 2 s, 4 s, ... (at most 30 s) before it is
//! answered, and from 10 failures on an account (100 from an address) even the right
//! password is refused, with the same generic error, until the window has passed since
//! the last failure. A success clears the account's count (not the address's). The
//! tables are bounded: past [`MAX_KEYS`], keys still within their free budget are
//! dropped first. Per appliance: with several appliances each keeps its own count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::Millis;

pub const WINDOW_MS: Millis = 15 * 60 * 1000;
pub const ACCOUNT_FREE: u32 = 5;
pub const ACCOUNT_LOCK: u32 = 10;
pub const ADDRESS_FREE: u32 = 20;
pub const ADDRESS_LOCK: u32 = 100;
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Keys each table holds at most.
pub const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    last: Millis,
}

#[derive(Debug)]
struct Table<K> {
    strikes: HashMap<K, Strikes>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            strikes: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn count(&self, key: &K, now: Millis) -> u32 {
        self.strikes
            .get(key)
            .filter(|s| now - s.last < WINDOW_MS)
            .map_or(0, |s| s.count)
    }

    fn strike(&mut self, key: &K, now: Millis, free: u32) {
        if !self.strikes.contains_key(key) && self.strikes.len() >= MAX_KEYS {
            self.strikes
                .retain(|_, s| now - s.last < WINDOW_MS && s.count > free);
            if self.strikes.len() >= MAX_KEYS {
                return;
            }
        }
        let s = self.strikes.entry(key.clone()).or_insert(Strikes {
            count: 0,
            last: now,
        });
        if now - s.last >= WINDOW_MS {
            s.count = 0;
        }
        s.count = s.count.saturating_add(1);
        s.last = now;
    }
}

/// What the guard says before a password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// How long to wait before answering.
    pub delay: Duration,
    /// Refuse even the right password.
    pub locked: bool,
}

#[derive(Debug, Default)]
pub struct LoginGuard {
    accounts: Mutex<Table<String>>,
    addresses: Mutex<Table<IpAddr>>,
}

/// 1 s, 2 s, 4 s, ... for each failure past `free`, at most [`MAX_DELAY`].
fn delay(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

/// IPv6 clients are counted per /64 (one host usually holds a whole one).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(
            v6.to_ipv4_mapped()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        ),
        v4 => v4,
    }
}

impl LoginGuard {
    pub fn assess(&self, address: IpAddr, account: &str, now: Millis) -> Verdict {
        let a = self
            .accounts
            .lock()
            .map_or(0, |t| t.count(&account.to_owned(), now));
        let ip = self
            .addresses
            .lock()
            .map_or(0, |t| t.count(&address_key(address), now));
        Verdict {
            delay: delay(a, ACCOUNT_FREE).max(delay(ip, ADDRESS_FREE)),
            locked: a >= ACCOUNT_LOCK || ip >= ADDRESS_LOCK,
        }
    }

    pub fn failed(&self, address: IpAddr, account: &str, now: Millis) {
        if let Ok(mut t) = self.accounts.lock() {
            t.strike(&account.to_owned(), now, ACCOUNT_FREE);
        }
        if let Ok(mut t) = self.addresses.lock() {
            t.strike(&address_key(address), now, ADDRESS_FREE);
        }
    }

    pub fn succeeded(&self, account: &str) {
        if let Ok(mut t) = self.accounts.lock() {
            t.strikes.remove(account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn an_account_slows_down_then_locks_then_recovers() {
        let g = LoginGuard::default();
        let t0 = 1_000_000;
        for i in 0..ACCOUNT_FREE {
            assert_eq!(g.assess(IP, "a@x", t0).delay, Duration::ZERO, "{i}");
            g.failed(IP, "a@x", t0);
        }
        assert_eq!(g.assess(IP, "a@x", t0).delay, Duration::from_secs(1));
        g.failed(IP, "a@x", t0);
        assert_eq!(g.assess(IP, "a@x", t0).delay, Duration::from_secs(2));
        for _ in ACCOUNT_FREE + 1..ACCOUNT_LOCK {
            g.failed(IP, "a@x", t0);
        }
        let v = g.assess(IP, "a@x", t0);
        assert!(v.locked);
        assert_eq!(v.delay, Duration::from_secs(30), "capped");
        // Another account from the same address is not locked.
        assert!(!g.assess(IP, "b@x", t0).locked);
        // The window passes.
        let later = t0 + WINDOW_MS;
        assert_eq!(
            g.assess(IP, "a@x", later),
            Verdict {
                delay: Duration::ZERO,
                locked: false
            }
        );
    }

    #[test]
    fn an_address_is_budgeted_across_accounts_and_success_clears_the_account() {
        let g = LoginGuard::default();
        let t0 = 5_000_000;
        for i in 0..ADDRESS_FREE {
            g.failed(IP, &format!("user{i}@x"), t0);
        }
        assert_eq!(g.assess(IP, "new@x", t0).delay, Duration::from_secs(1));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(g.assess(other, "new@x", t0).delay, Duration::ZERO);
        g.failed(other, "c@x", t0);
        g.succeeded("c@x");
        assert_eq!(
            g.accounts.lock().map(|t| t.count(&"c@x".into(), t0)).ok(),
            Some(0)
        );
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(address_key(mapped), IP);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let g = LoginGuard::default();
        for i in 0..MAX_KEYS + 10 {
            g.failed(IP, &format!("u{i}@x"), 1);
        }
        assert!(g.accounts.lock().map(|t| t.strikes.len()).unwrap_or(0) <= MAX_KEYS);
    }
}
