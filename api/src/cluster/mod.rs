//! Several appliances on one store. Each process life registers itself (its node name,
//! a new epoch per start, the URLs peers and Telnyx reach it at) and renews a heartbeat
//! the database's clock judges. Each call records the life that holds it
//! ([`CallOwner`]). One surviving appliance at a time (the holder of the
//! `cluster:reaper` lease) looks for lives whose heartbeat expired, declares each lost
//! exactly once (a conditional write in the store), and ends its live calls as
//! `node_lost`, hanging them up at the carrier so nobody is left in dead air; their
//! campaign attempts then settle as `unknown`. A life that comes back after it was
//! declared lost (a process stopped and continued) finds its heartbeat refused and
//! starts a new epoch: what was ended stays ended.
//!
//! A single appliance runs the same thing: after a crash, the restarted process ends
//! the calls its previous life left "live".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::calls::Telephony;
use crate::model::{new_id, now_millis, Call, CallOwner, CallQuery, CallStatus, NodeRecord};
use crate::store::{SharedStore, StoreError, StoreResult};

mod directory;
mod metrics;
pub mod recordings;

pub use directory::{Directory, RemoteCall};
pub use metrics::ClusterMetrics;

/// This process's place in the cluster: its node name and current epoch.
#[derive(Debug)]
pub struct Identity {
    node: String,
    epoch: RwLock<String>,
    pub public_url: String,
    /// Where the other appliances reach this one's internal listener (empty: none).
    pub internal_addr: String,
    pub started_at: crate::model::Millis,
}

impl Identity {
    pub fn new(node: &str, public_url: &str) -> Self {
        Self {
            node: node.to_owned(),
            epoch: RwLock::new(new_id()),
            public_url: public_url.to_owned(),
            internal_addr: String::new(),
            started_at: now_millis(),
        }
    }

    /// This identity, reachable by the other appliances at `addr`.
    #[must_use]
    pub fn with_internal_addr(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.internal_addr);
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn epoch(&self) -> String {
        self.epoch
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The owner a call created now records.
    pub fn owner(&self) -> CallOwner {
        CallOwner {
            node: self.node.clone(),
            epoch: self.epoch(),
        }
    }

    fn record(&self) -> NodeRecord {
        NodeRecord {
            id: self.node.clone(),
            epoch: self.epoch(),
            public_url: self.public_url.clone(),
            internal_addr: self.internal_addr.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at,
        }
    }

    fn renew_epoch(&self) -> String {
        let fresh = new_id();
        *self
            .epoch
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        fresh
    }
}

impl Default for Identity {
    /// A node named after the host, reachable nowhere else (a single appliance).
    fn default() -> Self {
        Self::new(&default_node_name(), "")
    }
}

/// The host's name, or `agent5` when it has none.
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent5".into())
}

#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// A life silent this long (by the database's clock) is lost.
    pub heartbeat_ttl: Duration,
    /// How long lost lives stay listed (for `/readyz` and `410 node_lost` answers).
    pub keep_lost: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            heartbeat_ttl: Duration::from_secs(15),
            keep_lost: Duration::from_secs(86_400),
        }
    }
}

impl ClusterSettings {
    /// Three beats per ttl: two may be late before the life counts as lost.
    pub fn beat_every(&self) -> Duration {
        self.heartbeat_ttl / 3
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.heartbeat_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

const REAPER_LEASE: &str = "cluster:reaper";

/// Since when this appliance's heartbeats have been succeeding without a break.
#[derive(Debug, Default)]
struct Beats {
    ok_since: Option<std::time::Instant>,
}

impl Beats {
    fn record(&mut self, ok: bool, at: std::time::Instant) {
        if ok {
            self.ok_since.get_or_insert(at);
        } else {
            self.ok_since = None;
        }
    }

    /// A whole ttl of good beats: every other appliance had the chance to beat too.
    fn settled(&self, now: std::time::Instant, ttl: Duration) -> bool {
        self.ok_since
            .is_some_and(|t| now.saturating_duration_since(t) >= ttl)
    }
}
/// Live calls read per store round trip while ending a lost life's calls.
const CALL_PAGE: u64 = 200;

pub struct Membership {
    store: SharedStore,
    telephony: Arc<Telephony>,
    identity: Arc<Identity>,
    settings: ClusterSettings,
    metrics: ClusterMetrics,
    joined: AtomicBool,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("identity", &self.identity)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// `identity` must be the one the telephony stamps calls with.
    pub fn new(
        store: SharedStore,
        telephony: Arc<Telephony>,
        settings: ClusterSettings,
        metrics: ClusterMetrics,
    ) -> Self {
        let identity = Arc::clone(&telephony.settings.identity);
        Self {
            store,
            telephony,
            identity,
            settings,
            metrics,
            joined: AtomicBool::new(false),
        }
    }

    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    pub fn telephony(&self) -> &Arc<Telephony> {
        &self.telephony
    }

    /// Registers this life (again: a fresh heartbeat).
    pub async fn join(&self) -> StoreResult<()> {
        self.store
            .register_node(self.identity.record(), self.settings.ttl_ms())
            .await?;
        self.joined.store(true, Ordering::Release);
        Ok(())
    }

    /// Joins, then beats and reaps every `beat_every` for as long as the process runs:
    /// a draining appliance still holds calls, so it beats until it exits (then
    /// [`Membership::leave`]).
    ///
    /// It reaps only after a whole ttl of successful beats of its own: when the store
    /// comes back from an outage longer than the ttl, every appliance's heartbeat looks
    /// old, and the first one to reconnect must not declare the others lost before they
    /// had the chance to beat again.
    pub async fn run(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.settings.beat_every());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beats = Beats::default();
        loop {
            every.tick().await;
            if !self.joined.load(Ordering::Acquire) {
                if let Err(e) = self.join().await {
                    tracing::warn!(error = %e, "joining the cluster failed; retrying");
                }
                continue;
            }
            let beat = self.beat().await;
            beats.record(beat.is_ok(), std::time::Instant::now());
            if let Err(e) = beat {
                tracing::warn!(error = %e, "cluster heartbeat failed");
            }
            if !beats.settled(std::time::Instant::now(), self.settings.heartbeat_ttl) {
                continue;
            }
            match self.reap().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(calls = n, "calls of lost appliances ended"),
                Err(e) => tracing::warn!(error = %e, "cluster reaper pass failed"),
            }
        }
    }

    /// Leaves the cluster at exit. With no live call of this life left, its record is
    /// removed; otherwise (the grace period ran out, or the carrier has not reported
    /// the last hang-ups yet) it is left to expire, and a surviving appliance ends
    /// whatever is still live a heartbeat ttl later.
    pub async fn leave(&self) {
        let epoch = self.identity.epoch();
        match self.live_calls_of(&epoch).await {
            Ok(0) => {
                if let Err(e) = self.store.remove_node(self.identity.node(), &epoch).await {
                    tracing::warn!(error = %e, "leaving the cluster failed");
                }
            }
            Ok(n) => tracing::warn!(
                calls = n,
                "calls of this appliance still live at exit: they are ended a heartbeat ttl from now unless the carrier reports their end"
            ),
            Err(e) => tracing::warn!(error = %e, "leaving the cluster failed"),
        }
        if let Err(e) = self.store.release_lease(REAPER_LEASE, &self.holder()).await {
            tracing::warn!(error = %e, "reaper lease not released");
        }
    }

    /// How many calls of this node's life `epoch` are live (up to a page per status).
    async fn live_calls_of(&self, epoch: &str) -> StoreResult<u64> {
        let mut n = 0;
        for status in CallStatus::LIVE {
            n += self.page_of(status, epoch).await?.len() as u64;
        }
        Ok(n)
    }

    /// A page of the calls in `status` held by the life `epoch`.
    async fn page_of(&self, status: CallStatus, epoch: &str) -> StoreResult<Vec<Call>> {
        let page = self
            .store
            .list_calls(&CallQuery {
                status: Some(status),
                owner_epoch: Some(epoch.to_owned()),
                limit: CALL_PAGE,
                ..CallQuery::default()
            })
            .await?;
        Ok(page.items)
    }

    fn holder(&self) -> String {
        format!("{}/{}", self.identity.node(), self.identity.epoch())
    }

    /// Renews this life's heartbeat. Refused when the life was declared lost (this
    /// process was stopped past its ttl): its calls were ended by another node, so it
    /// starts a new epoch rather than claim them back.
    pub async fn beat(&self) -> StoreResult<()> {
        let epoch = self.identity.epoch();
        let ttl = self.settings.ttl_ms();
        if self
            .store
            .heartbeat_node(self.identity.node(), &epoch, ttl)
            .await?
        {
            return Ok(());
        }
        let fresh = self.identity.renew_epoch();
        self.metrics.epochs_renewed.inc();
        tracing::error!(
            node = self.identity.node(),
            lost_epoch = %epoch,
            epoch = %fresh,
            "this appliance was declared lost (silent past its heartbeat ttl); its calls were ended elsewhere; continuing as a new epoch"
        );
        self.join().await
    }

    /// One reaper pass, if this node holds the reaper lease: every silent life is
    /// declared lost (once, by whoever's conditional write wins) and its live calls
    /// ended; lost lives older than `keep_lost` are forgotten. Returns the calls ended.
    pub async fn reap(&self) -> StoreResult<u64> {
        let nodes = self.store.list_nodes().await?;
        let alive = nodes.iter().filter(|n| n.alive).count();
        self.metrics
            .nodes_alive
            .set(i64::try_from(alive).unwrap_or(i64::MAX));
        let silent: Vec<_> = nodes
            .iter()
            .filter(|n| !n.alive && n.lost_at.is_none())
            .collect();
        let keep_ms = i64::try_from(self.settings.keep_lost.as_millis()).unwrap_or(i64::MAX);
        let now = now_millis();
        let stale: Vec<_> = nodes
            .iter()
            .filter(|n| n.lost_at.is_some_and(|t| now - t > keep_ms))
            .collect();
        if silent.is_empty() && stale.is_empty() {
            return Ok(0);
        }
        let ttl = self.settings.ttl_ms();
        if !self
            .store
            .acquire_lease(REAPER_LEASE, &self.holder(), ttl)
            .await?
        {
            return Ok(0);
        }
        let mut ended = 0;
        for n in silent {
            let (id, epoch) = (&n.node.id, &n.node.epoch);
            if !self.store.claim_lost_node(id, epoch, now).await? {
                continue;
            }
            self.metrics.nodes_lost.inc();
            tracing::warn!(node = %id, epoch = %epoch, silent_ms = n.silent_ms, "appliance declared lost");
            ended += self.end_calls_of(id, epoch).await?;
        }
        for n in stale {
            self.store.remove_node(&n.node.id, &n.node.epoch).await?;
        }
        Ok(ended)
    }

    /// Ends every live call owned by `node` at `epoch` as `node_lost`.
    async fn end_calls_of(&self, node: &str, epoch: &str) -> StoreResult<u64> {
        let mut ended = 0;
        for status in CallStatus::LIVE {
            // Each ended call leaves the status: the first page is read again until
            // none of that life's calls is left in it.
            loop {
                let mut progressed = false;
                for call in self.page_of(status, epoch).await? {
                    if call.owner.as_ref().is_none_or(|o| o.node != node) {
                        continue;
                    }
                    match self.telephony.end_node_lost(&call.id).await {
                        Ok(()) => {
                            ended += 1;
                            progressed = true;
                            self.metrics.calls_ended.inc();
                        }
                        Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
                if !progressed {
                    break;
                }
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_epoch_is_new_and_owned_calls_follow_it() {
        let id = Identity::new("n1", "https://n1.example");
        let first = id.owner();
        assert_eq!(first.node, "n1");
        let fresh = id.renew_epoch();
        assert_ne!(fresh, first.epoch);
        assert_eq!(id.owner().epoch, fresh);
        assert_eq!(id.record().epoch, fresh);
    }

    #[test]
    fn the_reaper_waits_a_whole_ttl_of_good_beats() {
        let ttl = Duration::from_secs(15);
        let t0 = std::time::Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut beats = Beats::default();
        assert!(!beats.settled(at(0), ttl), "never beaten");
        beats.record(true, at(0));
        beats.record(true, at(5));
        assert!(!beats.settled(at(10), ttl));
        assert!(beats.settled(at(15), ttl));
        // The store went away: after it comes back, a whole ttl again.
        beats.record(false, at(20));
        assert!(!beats.settled(at(20), ttl));
        beats.record(true, at(40));
        assert!(
            !beats.settled(at(50), ttl),
            "others have not had their ttl yet"
        );
        assert!(beats.settled(at(55), ttl));
    }

    #[test]
    fn three_beats_per_ttl() {
        let s = ClusterSettings {
            heartbeat_ttl: Duration::from_secs(15),
            ..ClusterSettings::default()
        };
        assert_eq!(s.beat_every(), Duration::from_secs(5));
        assert_eq!(s.ttl_ms(), 15_000);
    }
}
