//! [`FieldDefStore`] on SQLite: custom field definitions, unique by key.

use super::{err, SqliteStore};
use crate::model::FieldDef;
use crate::store::{FieldDefStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

fn def_doc(def: &FieldDef) -> StoreResult<String> {
    serde_json::to_string(def).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[async_trait]
impl FieldDefStore for SqliteStore {
    async fn create_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO prospect_field_defs (id, key, sort_order, doc) VALUES (?1, ?2, ?3, ?4)",
                params![def.id, def.key, def.order, def_doc(&def)?],
            )
            .map_err(err)?;
            Ok(def)
        })
        .await
    }

    async fn update_field_def(&self, def: FieldDef) -> StoreResult<FieldDef> {
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE prospect_field_defs SET key = ?2, sort_order = ?3, doc = ?4 WHERE id = ?1",
                    params![def.id, def.key, def.order, def_doc(&def)?],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(def)
        })
        .await
    }

    async fn delete_field_def(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            match conn
                .execute("DELETE FROM prospect_field_defs WHERE id = ?1", [&id])
                .map_err(err)?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list_field_defs(&self) -> StoreResult<Vec<FieldDef>> {
        self.read(|conn| {
            let mut s = conn
                .prepare_cached("SELECT doc FROM prospect_field_defs ORDER BY sort_order, key")
                .map_err(err)?;
            let docs = s
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            docs.iter()
                .map(|d| {
                    serde_json::from_str(d)
                        .map_err(|e| StoreError::Unavailable(format!("corrupt field def: {e}")))
                })
                .collect()
        })
        .await
    }
}
