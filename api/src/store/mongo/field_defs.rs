//! [`FieldDefStore`] on MongoDB: custom field definitions, unique by key.

use super::{err_on, with_id, MongoStore};
use crate::model::FieldDef;
use crate::store::{FieldDefStore, StoreResult};
use async_trait::async_trait;
use mongodb::bson::doc;

#[async_trait]
impl FieldDefStore for MongoStore {
    async fn create_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.ready().await?;
        self.coll("prospect_field_defs")
            .insert_one(with_id(&def, &def.id)?)
            .await
            .map_err(err_on("key"))?;
        Ok(def)
    }

    async fn update_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.ready().await?;
        self.replace_by_id(
            "prospect_field_defs",
            &def.id,
            with_id(&def, &def.id)?,
            "key",
        )
        .await?;
        Ok(def)
    }

    async fn delete_field_def(&self, id: &str) -> StoreResult<()> {
        self.ready().await?;
        self.delete_by_id("prospect_field_defs", id).await
    }

    async fn list_field_defs(&self) -> StoreResult<Vec<FieldDef>> {
        self.ready().await?;
        self.all(
            "prospect_field_defs",
            doc! {},
            doc! { "order": 1, "key": 1 },
        )
        .await
    }
}
