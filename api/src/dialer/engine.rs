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

use super::audience::{candidates, Candidate};
use super::outcome::{answered_by_person, disposition, next_step};
use super::window::{CallingWindows, ScheduleInput};
use super::zones::recipient_zones;
use crate::calls::{DialError, DialRequest, Telephony};
use crate::campaigns::settings::{Audience, Pacing};
use crate::campaigns::Status;
use crate::model::{
    new_id, AttemptState, AuditEntry, CallAttempt, CallQuery, CallStatus, Campaign, Customer,
    DialEntry, EntryState, Millis,
};
use crate::store::{SharedStore, StoreError, StoreResult};

use super::metrics::DialerMetrics;

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
/// Due entries read per store round trip, and the time a tick may spend deciding.
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

    /// Settles the attempts of `dialing` entries whose calls are over.
    async fn sweep(&self, c: &Campaign, plan: &Plan) -> StoreResult<u64> {
        let cap = u64::from(plan.pacing.max_concurrent) * 4 + 100;
        let mut settled = 0;
        for entry in self
            .store
            .dial_entries_in(&c.id, EntryState::Dialing, cap)
            .await?
        {
            if self.settle_entry(c, plan, entry).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// One `dialing` entry: its latest attempt settled from the call (or found settled),
    /// then the entry's next step. `true` when the entry moved on.
    async fn settle_entry(&self, c: &Campaign, plan: &Plan, mut e: DialEntry) -> StoreResult<bool> {
        let now = self.clock.now_ms();
        let attempts = self.store.list_attempts(&c.id, &e.phone_e164).await?;
        let Some(latest) = attempts.last().cloned() else {
            // Marked before any reservation landed: dial it again when due.
            e.state = EntryState::Waiting;
            e.next_at = Some(now);
            e.updated_at = now;
            self.store.put_dial_entry(e).await?;
            return Ok(true);
        };
        let closed = if latest.state.is_open() {
            match self.settle_attempt(latest, now).await? {
                Some(a) => a,
                None => return Ok(false),
            }
        } else {
            latest
        };
        let d = closed
            .disposition
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let dials = attempts
            .iter()
            .filter(|a| a.disposition.as_deref() != Some("not_dialed"))
            .count();
        let (state, next_at, reason) = next_step(
            &d,
            i64::try_from(dials).unwrap_or(i64::MAX),
            closed.ended_at.unwrap_or(now),
            &plan.pacing,
        );
        e.attempts = i64::try_from(dials).unwrap_or(i64::MAX);
        e.state = state;
        e.next_at = next_at;
        e.reason = Some(reason);
        e.last_disposition = Some(d.clone());
        e.updated_at = now;
        self.store.put_dial_entry(e).await?;
        self.metrics.dispositions.with_label_values(&[&d]).inc();
        self.watch_health(c, &d).await?;
        Ok(true)
    }

    /// Settles an open attempt from its call's facts; `unknown` when the carrier said
    /// nothing for `reconcile_after`. `None` while the call is still going.
    async fn settle_attempt(
        &self,
        a: CallAttempt,
        now: Millis,
    ) -> StoreResult<Option<CallAttempt>> {
        let call_id = a.call_id.clone().unwrap_or_else(|| a.id.clone());
        let silent_for = Duration::from_millis(u64::try_from(now - a.started_at).unwrap_or(0));
        let overdue = silent_for >= self.settings.reconcile_after;
        let next = match self.store.get_call(&call_id).await {
            Ok(call) => match disposition(&call) {
                Some(d) => {
                    let state = if d == "failed" && call.facts.initiated_at.is_none() {
                        AttemptState::Failed
                    } else {
                        AttemptState::Ended
                    };
                    Some((state, d, call.ended_at, call.facts.outcome.clone()))
                }
                None if overdue
                    && call.facts.initiated_at.is_none()
                    && call.answered_at.is_none() =>
                {
                    Some((AttemptState::Unknown, "unknown", None, None))
                }
                None => None,
            },
            Err(StoreError::NotFound) if overdue => {
                Some((AttemptState::Unknown, "unknown", None, None))
            }
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let Some((state, d, ended_at, outcome)) = next else {
            return Ok(None);
        };
        let settled = CallAttempt {
            state,
            outcome,
            disposition: Some(d.to_owned()),
            ended_at: Some(ended_at.unwrap_or(now).max(a.started_at)),
            call_id: Some(call_id),
            ..a
        };
        match self
            .store
            .settle_attempt(
                settled.clone(),
                &[AttemptState::Reserved, AttemptState::Dialed],
            )
            .await
        {
            Ok(s) => Ok(Some(s)),
            // Another node settled it first: theirs stands.
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pauses the campaign when its 30-day abandon rate reaches the threshold, or
    /// after `failure_pause_after` failed dials in a row.
    async fn watch_health(&self, c: &Campaign, d: &str) -> StoreResult<()> {
        let failures = self.run(&c.id, |r| {
            if d == "failed" {
                r.failures_in_a_row += 1;
            } else if d != "not_dialed" {
                r.failures_in_a_row = 0;
            }
            r.failures_in_a_row
        });
        if failures >= self.settings.failure_pause_after {
            self.run(&c.id, |r| r.failures_in_a_row = 0);
            return self
                .auto_pause(
                    c,
                    "carrier_failures",
                    format!("{failures} failed dials in a row"),
                )
                .await;
        }
        if d != "abandoned" {
            return Ok(());
        }
        let (abandoned, answered, rate) = self.abandon_rate(&c.id).await?;
        if rate >= self.settings.abandon_pause_rate {
            let detail = format!(
                "{abandoned} abandoned of {answered} answered in 30 days ({:.1}%, pauses at {:.1}%)",
                rate * 100.0,
                self.settings.abandon_pause_rate * 100.0
            );
            return self.auto_pause(c, "abandon_rate", detail).await;
        }
        Ok(())
    }

    /// Abandoned calls, calls answered by a person, and their ratio over 30 days.
    pub async fn abandon_rate(&self, campaign_id: &str) -> StoreResult<(u64, u64, f64)> {
        let since = self.clock.now_ms() - 30 * DAY_MS;
        let tally = self.store.attempt_tally(campaign_id, since).await?;
        let answered: u64 = tally
            .dispositions
            .iter()
            .filter(|(d, _)| answered_by_person(d))
            .map(|(_, n)| n)
            .sum();
        let abandoned = tally.dispositions.get("abandoned").copied().unwrap_or(0);
        let rate = if answered == 0 {
            0.0
        } else {
            abandoned as f64 / answered as f64
        };
        Ok((abandoned, answered, rate))
    }

    async fn auto_pause(&self, c: &Campaign, reason: &str, detail: String) -> StoreResult<()> {
        for _ in 0..5 {
            let mut fresh = self.store.get_campaign(&c.id).await?;
            if fresh.status != Status::Running.as_str() {
                return Ok(());
            }
            fresh.status = Status::Paused.as_str().to_owned();
            fresh.paused_reason = Some(reason.to_owned());
            match self.store.update_campaign(fresh).await {
                Ok(_) => {
                    tracing::warn!(campaign_id = %c.id, reason, %detail, "campaign paused by the dialler");
                    self.metrics.auto_pauses.with_label_values(&[reason]).inc();
                    self.store
                        .append_audit(AuditEntry::system(
                            "dialer",
                            "campaign.auto_pause",
                            &c.id,
                            format!("running -> paused: {reason}: {detail}"),
                        ))
                        .await?;
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// How many dials the campaign may start now.
    async fn budget(&self, c: &Campaign, plan: &Plan, now: Millis) -> StoreResult<u64> {
        let p = &plan.pacing;
        let hour = self.store.attempt_tally(&c.id, now - 3_600_000).await?;
        let mut budget = u64::from(p.max_concurrent).saturating_sub(hour.open);
        if let Some(cap) = p.max_per_hour {
            budget = budget.min(u64::from(cap).saturating_sub(hour.started));
        }
        if let Some(cap) = p.max_per_day {
            let day = self.store.attempt_tally(&c.id, now - DAY_MS).await?;
            budget = budget.min(u64::from(cap).saturating_sub(day.started));
        }
        if budget > 0 {
            let live = self.store.count_calls_in(&CallStatus::LIVE).await?;
            let global = self
                .telephony
                .settings
                .max_concurrent_calls
                .saturating_sub(self.settings.inbound_reserve)
                .saturating_sub(live);
            budget = budget.min(global);
        }
        Ok(budget)
    }

    /// Dials due entries within the budget and the pace; returns how many it dialled.
    async fn dial_due(
        &self,
        c: &Campaign,
        plan: &Plan,
        report: &mut TickReport,
    ) -> StoreResult<(u64, bool)> {
        let now = self.clock.now_ms();
        let started = Instant::now();
        let mut left = self.budget(c, plan, now).await?;
        if left == 0 {
            return Ok((0, false));
        }
        let mut dialed = 0;
        let mut skips: HashMap<&'static str, i64> = HashMap::new();
        // Page after page while entries are skipped, within the tick's time budget:
        // each decided entry leaves the due set (dialling, done, or due later).
        let result = loop {
            let due = match self.store.due_dial_entries(&c.id, now, DUE_PAGE).await {
                Ok(d) => d,
                Err(e) => break Err(e),
            };
            let full = due.len() as u64 == DUE_PAGE;
            match self
                .decide(c, plan, due, now, &mut left, &mut skips, report)
                .await
            {
                Ok((n, go_on)) => {
                    dialed += n;
                    let more = go_on && full && left > 0;
                    if !more || started.elapsed() >= DIAL_BUDGET {
                        break Ok((dialed, more));
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if !skips.is_empty() {
            let counts = skips
                .into_iter()
                .map(|(r, n)| (format!("skip_{r}"), n))
                .collect();
            self.store.bump_counters(&c.id, counts).await?;
        }
        result
    }

    /// Decides a page of due entries; returns how many were dialled and whether the
    /// next page may be looked at (budget, pace, lease and campaign all still allow).
    /// Skipped entries are written together at the end of the page.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        c: &Campaign,
        plan: &Plan,
        due: Vec<DialEntry>,
        now: Millis,
        left: &mut u64,
        skips: &mut HashMap<&'static str, i64>,
        report: &mut TickReport,
    ) -> StoreResult<(u64, bool)> {
        let spacing = plan.spacing_ms();
        let mut dialed = 0;
        let mut writes = Vec::new();
        let mut go_on = true;
        for mut e in due {
            let paced = self.run(&c.id, |r| r.last_dial.is_none_or(|t| now >= t + spacing));
            if *left == 0 || !paced || !self.lease_valid(&c.id) {
                go_on = false;
                break;
            }
            match self.gate(plan, &e, now).await? {
                Gate::Adopt => {
                    e.state = EntryState::Dialing;
                    e.updated_at = now;
                    writes.push(e);
                }
                Gate::Skip { reason, next } => {
                    report.skipped += 1;
                    self.metrics.skips.with_label_values(&[reason]).inc();
                    *skips.entry(reason).or_default() += 1;
                    e.state = if next.is_some() {
                        EntryState::Waiting
                    } else {
                        EntryState::Done
                    };
                    e.next_at = next;
                    e.reason = Some(reason.to_owned());
                    e.updated_at = now;
                    writes.push(e);
                }
                Gate::Dial { lang } => {
                    // The campaign's state, read immediately before the carrier request.
                    let fresh = self.store.get_campaign(&c.id).await?;
                    if fresh.status != Status::Running.as_str() {
                        go_on = false;
                        break;
                    }
                    self.run(&c.id, |r| r.last_dial = Some(now));
                    if self.dial_one(c, e, lang, now).await? {
                        dialed += 1;
                        report.dialed += 1;
                    }
                    *left -= 1;
                }
            }
        }
        self.store.put_dial_entries(writes).await?;
        Ok((dialed, go_on))
    }

    /// Everything that must hold immediately before a carrier request, read fresh.
    async fn gate(&self, plan: &Plan, e: &DialEntry, now: Millis) -> StoreResult<Gate> {
        let campaign_id = e.campaign_id.as_str();
        let skip = |reason, next| Ok(Gate::Skip { reason, next });
        let phone = std::slice::from_ref(&e.phone_e164);
        if !self.store.dnc_lookup(phone).await?.is_empty() {
            return skip("dnc", None);
        }
        let customer = match self.store.get_customer(e.customer_id.as_str()).await {
            Ok(cu) => cu,
            Err(StoreError::NotFound) => return skip("left_audience", None),
            Err(err) => return Err(err),
        };
        if customer.archived {
            return skip("archived", None);
        }
        let Some(contact) = find_contact(&customer, plan, e) else {
            return skip("left_audience", None);
        };
        let country = Some(contact.contact.country.as_str()).filter(|c| !c.is_empty());
        let lang = Some(contact.contact.language.clone()).filter(|l| !l.is_empty());
        if e.attempts >= i64::from(plan.pacing.max_attempts) {
            return skip("max_attempts", None);
        }
        if let Some(last) = self.store.latest_attempt_of_phone(&e.phone_e164).await? {
            if last.state.is_open() && last.campaign_id == campaign_id {
                // Left open by a crash: the sweep settles it, nothing is dialled.
                return Ok(Gate::Adopt);
            }
            if last.state.is_open() {
                return skip("in_live_call", Some(now + 60_000));
            }
            let free_at = last.ended_at.unwrap_or(last.started_at)
                + i64::from(plan.pacing.cooldown_minutes) * 60_000;
            if now < free_at {
                return skip("cooldown", Some(free_at));
            }
        }
        let zones = recipient_zones(&e.phone_e164, country, &plan.windows.timezone).zones;
        let at = Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH);
        if !plan.windows.open_in_all(&zones, at) {
            return match plan.windows.next_open(&zones, at) {
                Some(t) => skip("outside_window", Some(t.as_millisecond().max(now + 1))),
                None => skip("no_window", None),
            };
        }
        if self.in_live_call(&e.phone_e164).await? {
            return skip("in_live_call", Some(now + 60_000));
        }
        if plan.pacing.requires_consent {
            match self.store.get_consent(&e.phone_e164).await {
                Ok(consent) if consent.is_valid() => {}
                Ok(_) | Err(StoreError::NotFound) => {
                    return skip("no_consent", Some(now + 3_600_000));
                }
                Err(err) => return Err(err),
            }
        }
        Ok(Gate::Dial { lang })
    }

    async fn in_live_call(&self, phone: &str) -> StoreResult<bool> {
        let recent = self
            .store
            .list_calls(&CallQuery {
                phone: Some(phone.to_owned()),
                limit: 5,
                ..CallQuery::default()
            })
            .await?;
        Ok(recent.items.iter().any(|call| call.status.is_live()))
    }

    /// Reserves the attempt, then asks the carrier. `true` when the carrier took it.
    async fn dial_one(
        &self,
        c: &Campaign,
        mut e: DialEntry,
        lang: Option<String>,
        now: Millis,
    ) -> StoreResult<bool> {
        let reserved = CallAttempt {
            id: new_id(),
            campaign_id: c.id.clone(),
            customer_id: e.customer_id.clone(),
            target: e.target.clone(),
            delivery_code: e.delivery_code.clone(),
            phone_e164: e.phone_e164.clone(),
            attempt_no: 0,
            started_at: now,
            ended_at: None,
            disposition: None,
            call_id: None,
            error: None,
            state: AttemptState::Reserved,
            outcome: None,
        };
        let attempt = match self.store.reserve_attempt(reserved).await {
            Ok(a) => a,
            // An open attempt exists (a crash left it): the sweep settles it.
            Err(StoreError::Conflict { field }) if field == "in_flight" => {
                e.state = EntryState::Dialing;
                e.updated_at = now;
                self.store.put_dial_entry(e).await?;
                return Ok(false);
            }
            Err(err) => return Err(err),
        };
        e.state = EntryState::Dialing;
        e.updated_at = now;
        self.store.put_dial_entry(e.clone()).await?;
        let request = DialRequest {
            to: e.phone_e164.clone(),
            agent_profile: Some(c.script_profile.clone()).filter(|p| !p.is_empty()),
            customer_id: Some(e.customer_id.to_string()),
            delivery_code: e.delivery_code.clone(),
            campaign_id: Some(c.id.clone()),
            lang,
            idempotency_key: None,
            call_id: Some(attempt.id.clone()),
        };
        let result = self.telephony.dial(request).await;
        let (state, disposition, error) = match &result {
            Ok(_) => (AttemptState::Dialed, None, None),
            Err(DialError::Carrier(err)) => {
                (AttemptState::Failed, Some("failed"), Some(err.to_string()))
            }
            Err(DialError::Store(err)) => {
                // Whether the carrier was asked is unknown: reconciliation decides.
                tracing::warn!(attempt = %attempt.id, error = %err, "dial outcome not stored");
                self.metrics.dials.with_label_values(&["store_error"]).inc();
                return Ok(false);
            }
            Err(other) => (
                AttemptState::Failed,
                Some("not_dialed"),
                Some(other.to_string()),
            ),
        };
        self.metrics
            .dials
            .with_label_values(&[if result.is_ok() {
                "ok"
            } else {
                disposition.unwrap_or("error")
            }])
            .inc();
        let settled = CallAttempt {
            state,
            call_id: Some(attempt.id.clone()),
            disposition: disposition.map(str::to_owned),
            ended_at: disposition.map(|_| now),
            error,
            ..attempt
        };
        match self
            .store
            .settle_attempt(settled, &[AttemptState::Reserved])
            .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err),
        }
        Ok(result.is_ok())
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

/// The contact an entry names, if it is still in the campaign's audience.
fn find_contact<'a>(customer: &'a Customer, plan: &Plan, e: &DialEntry) -> Option<Candidate<'a>> {
    candidates(customer, plan.audience.target)
        .into_iter()
        .find(|cand| {
            cand.phone == Some(e.phone_e164.as_str())
                && cand.code == e.delivery_code.as_deref()
                && plan.audience.matches(cand)
        })
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
