//! [`ConsentStore`] on SQLite: one row per phone (revocation by a DNC entry is written
//! in the DNC insert's transaction, see `dnc.rs`).

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{Consent, Millis};
use crate::store::{ConsentStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl ConsentStore for SqliteStore {
    async fn put_consent(&self, consent: Consent) -> StoreResult<Consent> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO consents (phone_e164, revoked, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone_e164) DO UPDATE SET revoked = excluded.revoked, doc = excluded.doc",
                params![
                    consent.phone_e164,
                    consent.revoked_at.is_some(),
                    to_json(&consent)?
                ],
            )
            .map_err(err)?;
            Ok(consent)
        })
        .await
    }

    async fn get_consent(&self, phone_e164: &str) -> StoreResult<Consent> {
        let phone = phone_e164.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM consents WHERE phone_e164 = ?1", &phone))
            .await
    }

    async fn list_consents(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Consent>> {
        let args = vec![
            SqlValue::Text(after.unwrap_or_default().to_owned()),
            SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        self.read(move |c| {
            many(
                c,
                "SELECT doc FROM consents WHERE phone_e164 > ?1 ORDER BY phone_e164 LIMIT ?2",
                args,
            )
        })
        .await
    }

    async fn revoke_consent(
        &self,
        phone_e164: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Consent> {
        let (phone, reason) = (phone_e164.to_owned(), reason.to_owned());
        self.write(move |c| {
            let tx = c.transaction().map_err(err)?;
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM consents WHERE phone_e164 = ?1",
                    [&phone],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let mut consent: Consent = from_json(&doc.ok_or(StoreError::NotFound)?)?;
            if consent.revoked_at.is_none() {
                consent.revoked_at = Some(at);
                consent.revoked_reason = Some(reason);
                consent.updated_at = at;
                tx.execute(
                    "UPDATE consents SET revoked = 1, doc = ?2 WHERE phone_e164 = ?1",
                    params![phone, to_json(&consent)?],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            Ok(consent)
        })
        .await
    }
}
