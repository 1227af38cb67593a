//! [`AccessStore`] on SQLite: sessions and tokens as JSON documents keyed by the
//! SHA-256 of their secret, roles by name.

use async_trait::async_trait;
use rusqlite::params;
use rusqlite::types::Value as SqlValue;

use super::support::{many, one, to_json};
use super::{err, SqliteStore};
use crate::model::{ApiToken, Millis, Role, Session};
use crate::store::{AccessStore, StoreError, StoreResult};

#[async_trait]
impl AccessStore for SqliteStore {
    async fn create_session(&self, session: Session) -> StoreResult<Session> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    session.id_hash,
                    session.user_id,
                    session.created_at,
                    session.last_seen_at,
                    to_json(&session)?
                ],
            )
            .map_err(err)?;
            Ok(session)
        })
        .await
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Session> {
        let key = id_hash.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM sessions WHERE id_hash = ?1", &key))
            .await
    }

    async fn touch_session(&self, id_hash: &str, at: Millis) -> StoreResult<()> {
        let key = id_hash.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?2, doc = json_set(doc, '$.last_seen_at', ?2)
                 WHERE id_hash = ?1 AND last_seen_at < ?2",
            )
            .and_then(|mut s| s.execute(params![key, at]))
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let key = id_hash.to_owned();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM sessions WHERE id_hash = ?1", [key])
                .map_err(err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        let (user, keep) = (user_id.to_owned(), keep.unwrap_or_default().to_owned());
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND id_hash <> ?2",
                    params![user, keep],
                )
                .map_err(err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn purge_sessions(
        &self,
        idle_before: Millis,
        created_before: Millis,
    ) -> StoreResult<u64> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                    params![idle_before, created_before],
                )
                .map_err(err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_token(&self, token: ApiToken) -> StoreResult<ApiToken> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, digest, user_id, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token.id,
                    token.digest,
                    token.user_id,
                    token.created_at,
                    to_json(&token)?
                ],
            )
            .map_err(err)?;
            Ok(token)
        })
        .await
    }

    async fn get_token(&self, id: &str) -> StoreResult<ApiToken> {
        let id = id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM api_tokens WHERE id = ?1", &id))
            .await
    }

    async fn find_token_by_digest(&self, digest: &str) -> StoreResult<ApiToken> {
        let digest = digest.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM api_tokens WHERE digest = ?1", &digest))
            .await
    }

    async fn list_tokens(&self, user_id: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        let user = user_id.map(str::to_owned);
        self.read(move |c| match user {
            Some(u) => many(
                c,
                "SELECT doc FROM api_tokens WHERE user_id = ?1 ORDER BY created_at DESC, id DESC",
                vec![SqlValue::Text(u)],
            ),
            None => many(
                c,
                "SELECT doc FROM api_tokens ORDER BY created_at DESC, id DESC",
                Vec::new(),
            ),
        })
        .await
    }

    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<ApiToken> {
        let id = id.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE api_tokens SET doc = json_set(doc, '$.revoked_at', ?2)
                 WHERE id = ?1 AND json_extract(doc, '$.revoked_at') IS NULL",
                params![id, at],
            )
            .map_err(err)?;
            one(c, "SELECT doc FROM api_tokens WHERE id = ?1", &id)
        })
        .await
    }

    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE api_tokens SET doc = json_set(doc, '$.last_used_at', ?2)
                 WHERE id = ?1 AND coalesce(json_extract(doc, '$.last_used_at'), 0) < ?2",
            )
            .and_then(|mut s| s.execute(params![id, at]))
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn create_role(&self, role: Role) -> StoreResult<Role> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO roles (name, doc) VALUES (?1, ?2)",
                params![role.name, to_json(&role)?],
            )
            .map_err(err)?;
            Ok(role)
        })
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.read(|c| many(c, "SELECT doc FROM roles ORDER BY name", Vec::new()))
            .await
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM roles WHERE name = ?1", [name])
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }
}
