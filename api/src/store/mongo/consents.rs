//! [`ConsentStore`] on MongoDB: `_id` is the phone (revocation by a DNC entry is
//! written in the DNC insert's transaction, see `dnc.rs`).

use super::support::CONSENTS;
use super::{decode, encode, err, MongoStore};
use crate::model::{Consent, Millis};
use crate::store::{ConsentStore, StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

fn consent_of(mut d: Document) -> StoreResult<Consent> {
    d.remove("_id");
    decode(d)
}

#[async_trait]
impl ConsentStore for MongoStore {
    async fn put_consent(&self, consent: Consent) -> StoreResult<Consent> {
        self.ready().await?;
        let mut d = encode(&consent)?;
        d.insert("_id", &consent.phone_e164);
        self.coll(CONSENTS)
            .replace_one(doc! { "_id": &consent.phone_e164 }, d)
            .upsert(true)
            .await
            .map_err(err)?;
        Ok(consent)
    }

    async fn get_consent(&self, phone_e164: &str) -> StoreResult<Consent> {
        self.ready().await?;
        let found = self
            .coll(CONSENTS)
            .find_one(doc! { "_id": phone_e164 })
            .await
            .map_err(err)?;
        consent_of(found.ok_or(StoreError::NotFound)?)
    }

    async fn list_consents(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Consent>> {
        self.ready().await?;
        let cursor = self
            .coll(CONSENTS)
            .find(doc! { "_id": { "$gt": after.unwrap_or_default() } })
            .sort(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(err)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(err)?;
        docs.into_iter().map(consent_of).collect()
    }

    async fn revoke_consent(
        &self,
        phone_e164: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Consent> {
        self.ready().await?;
        self.coll(CONSENTS)
            .update_one(
                doc! { "_id": phone_e164, "revoked_at": null },
                doc! { "$set": { "revoked_at": at, "revoked_reason": reason, "updated_at": at } },
            )
            .await
            .map_err(err)?;
        self.get_consent(phone_e164).await
    }
}
