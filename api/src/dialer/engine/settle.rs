//! The sweep: open attempts settled from their calls' facts (or `unknown` after the
//! timeout), each dial-list entry's next step from the disposition, and the
//! campaign's health (the abandon rate, carrier failures) watched as it goes.

use std::time::Duration;

use super::{Dialer, Plan, DAY_MS};
use crate::campaigns::Status;
use crate::dialer::outcome::{answered_by_person, disposition, next_step};
use crate::model::{
    AttemptState, AuditEntry, CallAttempt, Campaign, DialEntry, EntryState, Millis,
};
use crate::store::{StoreError, StoreResult};

impl Dialer {
    /// Settles the attempts of `dialing` entries whose calls are over.
    pub(super) async fn sweep(&self, c: &Campaign, plan: &Plan) -> StoreResult<u64> {
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
}
