//! The dialler: every appliance runs one; each running campaign is dialled by the one
//! appliance holding its lease in the store (expiry judged by the database's clock), so
//! pacing is one node's and a dead node's campaigns move on within a lease.
//!
//! A tick, for each campaign this node holds:
//! 1. **fill**: the audience's contacts join the campaign's dial list (a bounded slice
//!    of customers per tick, so a million contacts never stall dialling; repeated
//!    every `refill_every`, so contacts added later join a running campaign);
//! 2. **sweep**: each `dialing` entry's attempt is settled from its call's facts (or
//!    marked `unknown` when nothing was heard for `reconcile_after`), the disposition
//!    decides the entry's next dial, and the campaign pauses itself on abandoned calls
//!    or repeated carrier failures;
//! 3. **dial**: within the budget (the campaign's open attempts under its cap, hourly
//!    and daily caps over the last 60 minutes and 24 hours, the appliance-wide cap
//!    minus the capacity reserved for inbound calls) and no faster than its calls per
//!    second, due entries pass the [gate](Dialer::gate) again immediately before each
//!    carrier request; an attempt is reserved in the store first (its id is the call's,
//!    so `client_state` names it) and settled from the carrier's answer.
//!
//! Every decision is stored (entries, attempts, counters): a restart resumes exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::audience::candidates;
use super::window::{CallingWindows, ScheduleInput};
use crate::calls::Telephony;
use crate::campaigns::settings::{Audience, Pacing};
use crate::campaigns::Status;
use crate::model::{new_id, AuditEntry, Campaign, Customer, DialEntry, EntryState, Millis};
use crate::store::{SharedStore, StoreError, StoreResult};

use super::metrics::DialerMetrics;

mod dial;
mod settle;

/// The dialler's clock, in milliseconds since the epoch (injected in tests).
pub trait Now: Send + Sync {
    fn now_ms(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNow;

impl Now for SystemNow {
    fn now_ms(&self) -> Millis {
        crate::model::now_millis()
    }
}

#[derive(Debug, Clone)]
pub struct DialerSettings {
    /// This appliance's name in leases (unique per node).
    pub node: String,
    pub tick: Duration,
    pub lease_ttl: Duration,
    /// Calls kept free for inbound callers under `telnyx.max_concurrent_calls`.
    pub inbound_reserve: u64,
    /// An attempt with no carrier fact after this long is `unknown`.
    pub reconcile_after: Duration,
    /// How often the audience is read again for contacts that joined it.
    pub refill_every: Duration,
    /// The 30-day abandon rate at which a campaign pauses itself.
    pub abandon_pause_rate: f64,
    /// Failed dials in a row after which a campaign pauses itself.
    pub failure_pause_after: u32,
    /// The appliance's zone (a campaign's when it names none).
    pub default_zone: String,
}

impl Default for DialerSettings {
    fn default() -> Self {
        Self {
            node: format!("node-{}", new_id()),
            tick: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(15),
            inbound_reserve: 2,
            reconcile_after: Duration::from_secs(120),
            refill_every: Duration::from_secs(600),
            abandon_pause_rate: 0.025,
            failure_pause_after: 5,
            default_zone: "Europe/Brussels".into(),
        }
    }
}

/// What this node knows about a campaign between ticks (nothing another node needs).
#[derive(Debug, Default)]
struct Run {
    /// Until when (by this node's monotonic clock) the lease is surely ours.
    lease_until: Option<Instant>,
    last_dial: Option<Millis>,
    /// The audience pass under way: the last customer id read.
    fill_after: Option<String>,
    fill_running: bool,
    /// When the last full pass ended (dialler clock).
    filled_at: Option<Millis>,
    failures_in_a_row: u32,
    /// When (dialler clock) the last full pass over the campaign ran.
    heavy_at: Option<Millis>,
}

/// A campaign's settings, parsed once per tick.
struct Plan {
    audience: Audience,
    pacing: Pacing,
    windows: CallingWindows,
}

impl Plan {
    fn of(c: &Campaign, default_zone: &str) -> Result<Self, String> {
        let audience: Audience =
            serde_json::from_value(c.audience.clone()).map_err(|e| format!("audience: {e}"))?;
        let pacing: Pacing =
            serde_json::from_value(c.dialer.clone()).map_err(|e| format!("dialer: {e}"))?;
        let schedule: ScheduleInput =
            serde_json::from_value(c.schedule.clone()).map_err(|e| format!("schedule: {e}"))?;
        let windows = CallingWindows::parse(&schedule, default_zone)
            .map_err(|e| format!("{}: {}", e.field, e.message))?;
        Ok(Self {
            audience,
            pacing,
            windows,
        })
    }

    fn spacing_ms(&self) -> Millis {
        (1000.0 / self.pacing.calls_per_second).ceil() as Millis
    }
}

/// The gate's verdict on one due entry.
enum Gate {
    Dial {
        lang: Option<String>,
    },
    /// Not now: `reason`, and when to look again (`None`: never).
    Skip {
        reason: &'static str,
        next: Option<Millis>,
    },
    /// The phone has an open attempt of this campaign (a dial interrupted by a crash):
    /// the entry is `dialing` again, for the sweep to settle.
    Adopt,
}

/// What one tick did, summed over campaigns.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub dialed: u64,
    pub skipped: u64,
    pub settled: u64,
    pub added: u64,
}

pub struct Dialer {
    store: SharedStore,
    telephony: Arc<Telephony>,
    clock: Arc<dyn Now>,
    settings: DialerSettings,
    metrics: DialerMetrics,
    runs: Mutex<HashMap<String, Run>>,
    changed: tokio::sync::broadcast::Sender<String>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Customers read per store round trip while filling, and the time a tick may spend
/// (small: the list is filled ahead of dialling, never in one long burst beside live
/// calls).
const FILL_PAGE: u64 = 500;
const FILL_BUDGET: Duration = Duration::from_millis(50);
/// Due entries read per store round trip (the first page of a pass, and the largest
/// while entries are skipped), and the time a tick may spend deciding.
const FIRST_DUE_PAGE: u64 = 4;
const DUE_PAGE: u64 = 100;
const DIAL_BUDGET: Duration = Duration::from_millis(250);
const DAY_MS: Millis = 86_400_000;

impl Dialer {
    pub fn new(
        store: SharedStore,
        telephony: Arc<Telephony>,
        clock: Arc<dyn Now>,
        settings: DialerSettings,
        metrics: DialerMetrics,
    ) -> Self {
        Self {
            store,
            telephony,
            clock,
            settings,
            metrics,
            runs: Mutex::new(HashMap::new()),
            changed: tokio::sync::broadcast::channel(256).0,
        }
    }

    pub fn settings(&self) -> &DialerSettings {
        &self.settings
    }

    /// The id of each campaign whose dialling state changed (for live stats).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changed.subscribe()
    }

    fn run<T>(&self, campaign_id: &str, f: impl FnOnce(&mut Run) -> T) -> T {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(runs.entry(campaign_id.to_owned()).or_default())
    }

    /// Runs ticks until `stop` completes (the appliance drains: an upgrade or a
    /// shutdown), then gives back every lease it holds, so another appliance (or the
    /// upgraded process) takes its campaigns at once, and no new call starts on a
    /// process that is waiting for its calls to end.
    pub async fn run_until(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        tokio::select! {
            () = &mut stop => {}
            () = Arc::clone(&self).run_forever() => {}
        }
        let held: Vec<String> = {
            let mut runs = self
                .runs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            runs.iter_mut()
                .filter_map(|(id, r)| r.lease_until.take().map(|_| id.clone()))
                .collect()
        };
        for id in held {
            if let Err(e) = self
                .store
                .release_lease(&lease_name(&id), &self.settings.node)
                .await
            {
                tracing::warn!(campaign_id = %id, error = %e, "campaign lease not released");
            }
            self.metrics.leases.dec();
        }
        tracing::info!("dialler stopped: the appliance is draining");
    }

    /// Runs ticks until the task is dropped.
    pub async fn run_forever(self: Arc<Self>) {
        loop {
            let wait = match self.tick().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "dialler tick failed");
                    self.settings.tick
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One pass over every campaign; returns how long to wait before the next.
    pub async fn tick(&self) -> StoreResult<Duration> {
        self.tick_report().await.map(|(_, wait)| wait)
    }

    /// One pass over every campaign, with what it did.
    pub async fn tick_report(&self) -> StoreResult<(TickReport, Duration)> {
        let started = Instant::now();
        let mut report = TickReport::default();
        let mut wait = self.settings.tick;
        for c in self.store.list_campaigns().await? {
            match Status::parse(&c.status) {
                Some(Status::Running) => {
                    if let Some(spacing) = self.campaign_tick(&c, &mut report).await? {
                        wait = wait.min(spacing);
                    }
                }
                Some(Status::Scheduled) => self.promote(c).await?,
                Some(Status::Draft) | None => {}
                _ => {
                    self.let_go(&c.id).await?;
                    report.settled += self.settle_stopped(&c).await?;
                }
            }
        }
        self.metrics.tick.observe(started.elapsed().as_secs_f64());
        Ok((report, wait.max(Duration::from_millis(20))))
    }

    /// A paused, stopped or completed campaign still has its calls' outcomes to
    /// record: its open attempts are settled (once per tick; any appliance may do it,
    /// each settlement is conditional in the store), nothing is dialled.
    async fn settle_stopped(&self, c: &Campaign) -> StoreResult<u64> {
        let now = self.clock.now_ms();
        let tick_ms = Millis::try_from(self.settings.tick.as_millis()).unwrap_or(1000);
        let due = self.run(&c.id, |r| {
            let due = r.heavy_at.is_none_or(|t| now - t >= tick_ms - 10);
            if due {
                r.heavy_at = Some(now);
            }
            due
        });
        if !due || !self.telephony.configured() {
            return Ok(0);
        }
        match Plan::of(c, &self.settings.default_zone) {
            Ok(plan) => self.sweep(c, &plan).await,
            Err(_) => Ok(0),
        }
    }

    /// A campaign this node no longer dials: its lease is given back.
    async fn let_go(&self, campaign_id: &str) -> StoreResult<()> {
        let held = self.run(campaign_id, |r| r.lease_until.take().is_some());
        if held {
            self.store
                .release_lease(&lease_name(campaign_id), &self.settings.node)
                .await?;
            self.metrics.leases.dec();
        }
        Ok(())
    }

    /// Takes or renews the campaign's lease; `true` while this node holds it.
    async fn hold(&self, campaign_id: &str) -> StoreResult<bool> {
        let ttl = self.settings.lease_ttl;
        let asked = Instant::now();
        // Renewed when half of its safe time is left, not on every pass.
        let fresh = self.run(campaign_id, |r| {
            r.lease_until
                .is_some_and(|t| t.saturating_duration_since(asked) > ttl.mul_f64(0.4))
        });
        if fresh {
            return Ok(true);
        }
        let ttl_ms = Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX);
        let got = self
            .store
            .acquire_lease(&lease_name(campaign_id), &self.settings.node, ttl_ms)
            .await?;
        let had = self.run(campaign_id, |r| {
            let had = r.lease_until.is_some();
            // Counted from before the request: the database's expiry is later still.
            r.lease_until = got.then(|| asked + ttl.mul_f64(0.8));
            had
        });
        match (had, got) {
            (false, true) => self.metrics.leases.inc(),
            (true, false) => self.metrics.leases.dec(),
            _ => {}
        }
        Ok(got)
    }

    fn lease_valid(&self, campaign_id: &str) -> bool {
        self.run(campaign_id, |r| {
            r.lease_until.is_some_and(|t| Instant::now() < t)
        })
    }

    /// Fill, sweep and dial one running campaign, if this node holds it. Returns the
    /// spacing between its dials when it dialled (the runner wakes up for the next).
    async fn campaign_tick(
        &self,
        c: &Campaign,
        report: &mut TickReport,
    ) -> StoreResult<Option<Duration>> {
        // Without a carrier nothing can be dialled: leave the campaign to an appliance
        // that has one.
        if !self.telephony.configured() {
            return Ok(None);
        }
        // The heavy part (lease renewal, fill, sweep, completion) once per tick; the
        // wake-ups in between, at the campaign's pace, only dial.
        let now = self.clock.now_ms();
        let tick_ms = Millis::try_from(self.settings.tick.as_millis()).unwrap_or(1000);
        let heavy = self.run(&c.id, |r| {
            r.heavy_at.is_none_or(|t| now - t >= tick_ms - 10)
        });
        if heavy {
            if !self.hold(&c.id).await? {
                return Ok(None);
            }
            self.run(&c.id, |r| r.heavy_at = Some(now));
        } else if !self.lease_valid(&c.id) {
            return Ok(None);
        }
        let plan = match Plan::of(c, &self.settings.default_zone) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(campaign_id = %c.id, error = %e, "campaign settings unreadable; not dialling it");
                return Ok(None);
            }
        };
        let before = *report;
        if heavy {
            report.added += self.fill(c, &plan).await?;
            report.settled += self.sweep(c, &plan).await?;
        }
        let (dialed, more) = self.dial_due(c, &plan, report).await?;
        if heavy {
            self.complete_if_done(c).await?;
        }
        if *report != before {
            let _ = self.changed.send(c.id.clone());
        }
        Ok(if dialed > 0 {
            Some(Duration::from_millis(plan.spacing_ms().unsigned_abs()))
        } else if more {
            Some(Duration::ZERO)
        } else {
            None
        })
    }

    /// Adds the audience's contacts to the dial list, a bounded slice per tick, and
    /// only while the list holds less than ten minutes of dialling at the campaign's
    /// pace (at least 2,000, at most 30,000 entries due within ten minutes): a
    /// million-contact audience is
    /// read as the campaign goes, not all at its start, so planning never competes
    /// with live calls for long.
    async fn fill(&self, c: &Campaign, plan: &Plan) -> StoreResult<u64> {
        let now = self.clock.now_ms();
        let ahead = ((plan.pacing.calls_per_second * 600.0) as u64).clamp(2_000, 30_000);
        let filling = self.run(&c.id, |r| r.fill_running);
        let soon = now + 600_000;
        if filling && self.store.count_waiting(&c.id, soon, ahead).await? >= ahead {
            return Ok(0);
        }
        let refill = Millis::try_from(self.settings.refill_every.as_millis()).unwrap_or(0);
        let (running, mut after) = self.run(&c.id, |r| {
            if !r.fill_running && r.filled_at.is_none_or(|t| now - t >= refill) {
                r.fill_running = true;
                r.fill_after = None;
            }
            (r.fill_running, r.fill_after.clone())
        });
        if !running {
            return Ok(0);
        }
        let started = Instant::now();
        let mut added = 0;
        loop {
            let page = self
                .store
                .list_customers(after.as_deref(), FILL_PAGE)
                .await?;
            let entries: Vec<DialEntry> = page
                .iter()
                .flat_map(|cu| audience_entries(c, plan, cu, now))
                .collect();
            added += self.store.add_dial_entries(entries).await?;
            let full = page.len() as u64 == FILL_PAGE;
            after = page.last().map(|cu| cu.id.to_string());
            if !full {
                self.run(&c.id, |r| {
                    r.fill_running = false;
                    r.fill_after = None;
                    r.filled_at = Some(now);
                });
                break;
            }
            self.run(&c.id, |r| r.fill_after.clone_from(&after));
            if started.elapsed() > FILL_BUDGET {
                break;
            }
        }
        self.metrics.entries_added.inc_by(added);
        Ok(added)
    }

    /// `scheduled -> running` once the campaign's first date has come in its zone.
    async fn promote(&self, mut c: Campaign) -> StoreResult<()> {
        let Ok(plan) = Plan::of(&c, &self.settings.default_zone) else {
            return Ok(());
        };
        let schedule: ScheduleInput =
            serde_json::from_value(c.schedule.clone()).unwrap_or_default();
        let now = Timestamp::from_millisecond(self.clock.now_ms()).unwrap_or(Timestamp::UNIX_EPOCH);
        let today = now.to_zoned(plan.windows.timezone.clone()).date();
        let due = schedule
            .start_date
            .as_deref()
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            .is_none_or(|first| first <= today);
        if !due {
            return Ok(());
        }
        c.status = Status::Running.as_str().to_owned();
        match self.store.update_campaign(c).await {
            Ok(c) => {
                self.store
                    .append_audit(AuditEntry::system(
                        "dialer",
                        "campaign.run",
                        &c.id,
                        "scheduled -> running".into(),
                    ))
                    .await
            }
            Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `running -> completed` when a full audience pass found every entry done.
    async fn complete_if_done(&self, c: &Campaign) -> StoreResult<()> {
        let filled = self.run(&c.id, |r| r.filled_at.is_some() && !r.fill_running);
        if !filled {
            return Ok(());
        }
        let counts = self.store.dial_entry_counts(&c.id).await?;
        if counts.waiting > 0 || counts.dialing > 0 || counts.done == 0 {
            return Ok(());
        }
        let mut fresh = self.store.get_campaign(&c.id).await?;
        if fresh.status != Status::Running.as_str() {
            return Ok(());
        }
        fresh.status = Status::Completed.as_str().to_owned();
        match self.store.update_campaign(fresh).await {
            Ok(_) => {
                self.store
                    .append_audit(AuditEntry::system(
                        "dialer",
                        "campaign.complete",
                        &c.id,
                        format!("running -> completed: {} contacts done", counts.done),
                    ))
                    .await?;
                self.let_go(&c.id).await
            }
            Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn lease_name(campaign_id: &str) -> String {
    format!("dialer:campaign:{campaign_id}")
}

/// The dial-list entries of a customer's contacts in the audience, due `now`.
fn audience_entries(c: &Campaign, plan: &Plan, customer: &Customer, now: Millis) -> Vec<DialEntry> {
    candidates(customer, plan.audience.target)
        .into_iter()
        .filter(|cand| plan.audience.matches(cand))
        .filter_map(|cand| {
            Some(DialEntry {
                campaign_id: c.id.clone(),
                phone_e164: cand.phone?.to_owned(),
                customer_id: customer.id.clone(),
                target: if cand.code.is_some() {
                    "delivery"
                } else {
                    "invoice"
                }
                .into(),
                delivery_code: cand.code.map(str::to_owned),
                state: EntryState::Waiting,
                next_at: Some(now),
                attempts: 0,
                last_disposition: None,
                reason: None,
                updated_at: now,
            })
        })
        .collect()
}

/// The zone a campaign's schedule reads in (for callers outside the dialler).
pub fn campaign_zone(c: &Campaign, default_zone: &str) -> Option<TimeZone> {
    Plan::of(c, default_zone).ok().map(|p| p.windows.timezone)
}
