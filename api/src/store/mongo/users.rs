//! [`UserStore`] on MongoDB: users unique by their lower-case email (`email_lc`, kept
//! beside the document for the unique index).

use async_trait::async_trait;
use mongodb::bson::{doc, Document};

use super::{err, err_on, with_id, MongoStore};
use crate::model::User;
use crate::store::{version_refused, StoreResult, UserStore};

const USERS: &str = "users";

fn user_doc(user: &User) -> StoreResult<Document> {
    let mut d = with_id(user, &user.id)?;
    d.insert("email_lc", User::email_key(&user.email));
    Ok(d)
}

#[async_trait]
impl UserStore for MongoStore {
    async fn create_user(&self, user: User) -> StoreResult<User> {
        self.ready().await?;
        self.coll(USERS)
            .insert_one(user_doc(&user)?)
            .await
            .map_err(err_on("email"))?;
        Ok(user)
    }

    async fn get_user(&self, id: &str) -> StoreResult<User> {
        self.ready().await?;
        self.one(USERS, doc! { "_id": id }).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<User> {
        self.ready().await?;
        self.one(USERS, doc! { "email_lc": User::email_key(email) })
            .await
    }

    async fn update_user(&self, user: User) -> StoreResult<User> {
        self.ready().await?;
        let mut next = user;
        let read = next.version;
        next.version += 1;
        let res = self
            .coll(USERS)
            .replace_one(doc! { "_id": &next.id, "version": read }, user_doc(&next)?)
            .await
            .map_err(err_on("email"))?;
        if res.matched_count == 1 {
            return Ok(next);
        }
        let exists = self
            .coll(USERS)
            .find_one(doc! { "_id": &next.id })
            .await
            .map_err(err)?
            .is_some();
        Err(version_refused(exists))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.ready().await?;
        self.all(USERS, doc! {}, doc! { "email_lc": 1 }).await
    }
}
