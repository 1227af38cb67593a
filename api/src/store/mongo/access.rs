//! [`AccessStore`] on MongoDB: `sessions` keyed by the SHA-256 of the cookie value,
//! `api_tokens` unique by digest, `roles` keyed by name.

use async_trait::async_trait;
use mongodb::bson::{doc, Document};

use super::support::strip_doc_id;
use super::{decode, encode, err, err_on, with_id, MongoStore};
use crate::model::{ApiToken, Millis, Role, Session};
use crate::store::{AccessStore, StoreError, StoreResult};

const SESSIONS: &str = "sessions";
const TOKENS: &str = "api_tokens";
const ROLES: &str = "roles";

/// A document whose `_id` repeats a field of the value (a session's hash, a role's
/// name): the value without it.
fn keyed<T: serde::de::DeserializeOwned>(d: Document) -> StoreResult<T> {
    decode(strip_doc_id(d))
}

#[async_trait]
impl AccessStore for MongoStore {
    async fn create_session(&self, session: Session) -> StoreResult<Session> {
        self.ready().await?;
        let mut d = encode(&session)?;
        d.insert("_id", &session.id_hash);
        self.coll(SESSIONS)
            .insert_one(d)
            .await
            .map_err(err_on("id_hash"))?;
        Ok(session)
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Session> {
        self.ready().await?;
        let found = self
            .coll(SESSIONS)
            .find_one(doc! { "_id": id_hash })
            .await
            .map_err(err)?;
        keyed(found.ok_or(StoreError::NotFound)?)
    }

    async fn touch_session(&self, id_hash: &str, at: Millis) -> StoreResult<()> {
        self.ready().await?;
        self.coll(SESSIONS)
            .update_one(
                doc! { "_id": id_hash, "last_seen_at": { "$lt": at } },
                doc! { "$set": { "last_seen_at": at } },
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        self.ready().await?;
        let res = self
            .coll(SESSIONS)
            .delete_one(doc! { "_id": id_hash })
            .await
            .map_err(err)?;
        Ok(res.deleted_count > 0)
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        self.ready().await?;
        let mut filter = doc! { "user_id": user_id };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": keep });
        }
        let res = self.coll(SESSIONS).delete_many(filter).await.map_err(err)?;
        Ok(res.deleted_count)
    }

    async fn purge_sessions(
        &self,
        idle_before: Millis,
        created_before: Millis,
    ) -> StoreResult<u64> {
        self.ready().await?;
        let res = self
            .coll(SESSIONS)
            .delete_many(doc! { "$or": [
                { "last_seen_at": { "$lt": idle_before } },
                { "created_at": { "$lt": created_before } },
            ] })
            .await
            .map_err(err)?;
        Ok(res.deleted_count)
    }

    async fn create_token(&self, token: ApiToken) -> StoreResult<ApiToken> {
        self.ready().await?;
        self.coll(TOKENS)
            .insert_one(with_id(&token, &token.id)?)
            .await
            .map_err(err_on("digest"))?;
        Ok(token)
    }

    async fn get_token(&self, id: &str) -> StoreResult<ApiToken> {
        self.ready().await?;
        self.one(TOKENS, doc! { "_id": id }).await
    }

    async fn find_token_by_digest(&self, digest: &str) -> StoreResult<ApiToken> {
        self.ready().await?;
        self.one(TOKENS, doc! { "digest": digest }).await
    }

    async fn list_tokens(&self, user_id: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        self.ready().await?;
        let filter = user_id.map_or_else(Document::new, |u| doc! { "user_id": u });
        self.all(TOKENS, filter, doc! { "created_at": -1, "_id": -1 })
            .await
    }

    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<ApiToken> {
        self.ready().await?;
        self.coll(TOKENS)
            .update_one(
                doc! { "_id": id, "revoked_at": null },
                doc! { "$set": { "revoked_at": at } },
            )
            .await
            .map_err(err)?;
        self.one(TOKENS, doc! { "_id": id }).await
    }

    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()> {
        self.ready().await?;
        self.coll(TOKENS)
            .update_one(
                doc! { "_id": id, "$or": [
                    { "last_used_at": null },
                    { "last_used_at": { "$lt": at } },
                ] },
                doc! { "$set": { "last_used_at": at } },
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn create_role(&self, role: Role) -> StoreResult<Role> {
        self.ready().await?;
        let mut d = encode(&role)?;
        d.insert("_id", &role.name);
        self.coll(ROLES)
            .insert_one(d)
            .await
            .map_err(err_on("name"))?;
        Ok(role)
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.ready().await?;
        self.all_as(ROLES, doc! {}, doc! { "_id": 1 }, keyed).await
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        self.ready().await?;
        self.delete_by_id(ROLES, name).await
    }
}
