//! [`UserStore`] on SQLite: users as JSON documents, unique by lower-case email.

use async_trait::async_trait;
use rusqlite::params;

use super::support::{many, one, to_json};
use super::{err, SqliteStore};
use crate::model::User;
use crate::store::{version_refused, StoreError, StoreResult, UserStore};

/// The email column's conflict is reported under the field users know.
fn email_conflict(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict { field } if field == "email_lc" => StoreError::Conflict {
            field: "email".into(),
        },
        other => other,
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: User) -> StoreResult<User> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO users (id, email_lc, version, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    user.id,
                    User::email_key(&user.email),
                    user.version,
                    to_json(&user)?
                ],
            )
            .map_err(|e| email_conflict(err(e)))?;
            Ok(user)
        })
        .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<User> {
        let id = id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM users WHERE id = ?1", &id))
            .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<User> {
        let key = User::email_key(email);
        self.read(move |c| one(c, "SELECT doc FROM users WHERE email_lc = ?1", &key))
            .await
    }

    async fn update_user(&self, user: User) -> StoreResult<User> {
        self.write(move |c| {
            let mut next = user;
            let read = next.version;
            next.version += 1;
            let n = c
                .execute(
                    "UPDATE users SET email_lc = ?2, version = ?3, doc = ?4 WHERE id = ?1 AND version = ?5",
                    params![
                        next.id,
                        User::email_key(&next.email),
                        next.version,
                        to_json(&next)?,
                        read
                    ],
                )
                .map_err(|e| email_conflict(err(e)))?;
            if n == 1 {
                return Ok(next);
            }
            let exists = c
                .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
                .and_then(|mut s| s.exists([&next.id]))
                .map_err(err)?;
            Err(version_refused(exists))
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| many(c, "SELECT doc FROM users ORDER BY email_lc", Vec::new()))
            .await
    }
}
