//! Dialling: the budget (caps and the appliance-wide capacity), due entries decided
//! page by page, the gate read afresh immediately before each carrier request, and
//! the dial itself (the attempt reserved first, its id the call's).

use std::collections::HashMap;
use std::time::Instant;

use jiff::Timestamp;

use super::{Dialer, Gate, Plan, TickReport, DAY_MS, DIAL_BUDGET, DUE_PAGE, FIRST_DUE_PAGE};
use crate::calls::{DialError, DialRequest};
use crate::campaigns::Status;
use crate::dialer::audience::{candidates, Candidate};
use crate::dialer::zones::recipient_zones;
use crate::model::{
    new_id, AttemptState, CallAttempt, CallQuery, CallStatus, Campaign, Customer, DialEntry,
    EntryState, Millis,
};
use crate::store::{StoreError, StoreResult};

impl Dialer {
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
    pub(super) async fn dial_due(
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
        // A pass dials at most one entry (the pace allows no second at the same
        // instant), so the first page is small and the pages grow only while entries
        // are skipped: a wake-up at the campaign's pace reads a handful of rows, not a
        // hundred.
        let mut page = FIRST_DUE_PAGE;
        let result = loop {
            let due = match self.store.due_dial_entries(&c.id, now, page).await {
                Ok(d) => d,
                Err(e) => break Err(e),
            };
            let full = due.len() as u64 == page;
            page = (page * 4).min(DUE_PAGE);
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
        // The lease checked again right before the carrier request: a node paused
        // (SIGSTOP, a frozen VM) past its lease between the gate and here must not dial
        // what another node may dial now; the attempt is settled as not dialled.
        if !self.lease_valid(&c.id) {
            self.lease_lost(attempt, now).await?;
            return Ok(false);
        }
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

    /// A reserved attempt whose campaign lease ran out before the carrier was asked:
    /// settled `not_dialed` (unless the sweep already settled it).
    async fn lease_lost(&self, attempt: CallAttempt, now: Millis) -> StoreResult<()> {
        self.metrics.dials.with_label_values(&["lease_lost"]).inc();
        let not_dialed = CallAttempt {
            state: AttemptState::Failed,
            disposition: Some("not_dialed".into()),
            ended_at: Some(now),
            error: Some("the campaign's lease expired before the carrier request".into()),
            ..attempt
        };
        match self
            .store
            .settle_attempt(not_dialed, &[AttemptState::Reserved])
            .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
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
