//! [`CampaignStore`] on SQLite: campaigns (versioned) and call attempts.

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{now_millis, AttemptState, CallAttempt, Campaign, Millis};
use crate::store::{CampaignStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn create_campaign(&self, campaign: Campaign) -> StoreResult<Campaign> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO campaigns (id, name, created_at, version, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![campaign.id, campaign.name, campaign.created_at, campaign.version, to_json(&campaign)?],
            )
            .map_err(err)?;
            Ok(campaign)
        })
        .await
    }

    async fn get_campaign(&self, id: &str) -> StoreResult<Campaign> {
        let id = id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM campaigns WHERE id = ?1", &id))
            .await
    }

    async fn update_campaign(&self, campaign: Campaign) -> StoreResult<Campaign> {
        self.write(move |c| {
            let mut next = campaign;
            let expected = next.version;
            next.version += 1;
            next.updated_at = now_millis().max(next.updated_at);
            let n = c
                .execute(
                    "UPDATE campaigns SET name = ?2, version = ?3, doc = ?4 WHERE id = ?1 AND version = ?5",
                    params![next.id, next.name, next.version, to_json(&next)?, expected],
                )
                .map_err(err)?;
            versioned(c, "SELECT 1 FROM campaigns WHERE id = ?1", n, next)
        })
        .await
    }

    async fn list_campaigns(&self) -> StoreResult<Vec<Campaign>> {
        self.read(|c| {
            many(
                c,
                "SELECT doc FROM campaigns ORDER BY created_at DESC, id DESC",
                Vec::new(),
            )
        })
        .await
    }

    async fn delete_draft_campaign(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM campaigns WHERE id = ?1 AND json_extract(doc, '$.status') = 'draft'",
                    [&id],
                )
                .map_err(err)?;
            if n == 1 {
                return Ok(());
            }
            let exists = c
                .query_row("SELECT 1 FROM campaigns WHERE id = ?1", [&id], |_| Ok(()))
                .is_ok();
            Err(if exists {
                StoreError::Conflict {
                    field: "status".into(),
                }
            } else {
                StoreError::NotFound
            })
        })
        .await
    }

    async fn record_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt> {
        self.write(move |c| insert_next_attempt(c, attempt, false))
            .await
    }

    async fn reserve_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt> {
        let attempt = CallAttempt {
            state: AttemptState::Reserved,
            ..attempt
        };
        self.write(move |c| insert_next_attempt(c, attempt, true))
            .await
    }

    async fn settle_attempt(
        &self,
        attempt: CallAttempt,
        from: &[AttemptState],
    ) -> StoreResult<CallAttempt> {
        let from = from.to_vec();
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            let doc: String = tx
                .query_row(
                    "SELECT doc FROM call_attempts WHERE id = ?1",
                    [&attempt.id],
                    |r| r.get(0),
                )
                .map_err(|_| StoreError::NotFound)?;
            let stored: CallAttempt = from_json(&doc)?;
            if !from.contains(&stored.state) {
                return Err(StoreError::Conflict {
                    field: "state".into(),
                });
            }
            tx.execute(
                "UPDATE call_attempts SET doc = ?2, state = ?3 WHERE id = ?1",
                params![attempt.id, to_json(&attempt)?, attempt.state.as_str()],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(attempt)
        })
        .await
    }

    async fn open_attempts_before(&self, cutoff: Millis) -> StoreResult<Vec<CallAttempt>> {
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM call_attempts WHERE state IN ('reserved', 'dialed') AND started_at < ?1 ORDER BY started_at, id",
                vec![SqlValue::Integer(cutoff)],
            )
        })
        .await
    }

    async fn list_attempts(
        &self,
        campaign_id: &str,
        phone_e164: &str,
    ) -> StoreResult<Vec<CallAttempt>> {
        let args = vec![
            SqlValue::Text(campaign_id.to_owned()),
            SqlValue::Text(phone_e164.to_owned()),
        ];
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM call_attempts WHERE campaign_id = ?1 AND phone_e164 = ?2 ORDER BY attempt_no",
                args,
            )
        })
        .await
    }
}

/// Inserts `attempt` as the next number of its campaign and phone; with `refuse_open`,
/// refuses (`Conflict in_flight`) while the latest one is open. One writer connection:
/// the read and the insert cannot interleave with another writer's.
fn insert_next_attempt(
    c: &mut rusqlite::Connection,
    attempt: CallAttempt,
    refuse_open: bool,
) -> StoreResult<CallAttempt> {
    let tx = c.transaction().map_err(err)?;
    let latest: Option<(i64, String)> = tx
        .query_row(
            "SELECT attempt_no, doc FROM call_attempts WHERE campaign_id = ?1 AND phone_e164 = ?2 ORDER BY attempt_no DESC LIMIT 1",
            [&attempt.campaign_id, &attempt.phone_e164],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    if let (true, Some((_, doc))) = (refuse_open, &latest) {
        let last: CallAttempt = from_json(doc)?;
        if last.state.is_open() {
            return Err(StoreError::Conflict {
                field: "in_flight".into(),
            });
        }
    }
    let mut attempt = attempt;
    attempt.attempt_no = latest.map_or(1, |(n, _)| n + 1);
    tx.execute(
        "INSERT INTO call_attempts (id, campaign_id, phone_e164, attempt_no, doc, started_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![attempt.id, attempt.campaign_id, attempt.phone_e164, attempt.attempt_no, to_json(&attempt)?, attempt.started_at, attempt.state.as_str()],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(attempt)
}
