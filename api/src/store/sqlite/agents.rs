//! [`AgentStore`] on SQLite: agent profiles as JSON documents, unique by name.

use super::support::*;
use super::{err, SqliteStore};
use crate::model::AgentProfile;
use crate::store::{AgentStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO agent_profiles (id, name, doc) VALUES (?1, ?2, ?3)",
                params![agent.id, agent.name, to_json(&agent)?],
            )
            .map_err(err)?;
            Ok(agent)
        })
        .await
    }

    async fn get_agent(&self, id: &str) -> StoreResult<AgentProfile> {
        let id = id.to_owned();
        self.read(move |c| one(c, "SELECT doc FROM agent_profiles WHERE id = ?1", &id))
            .await
    }

    async fn update_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE agent_profiles SET name = ?2, doc = ?3 WHERE id = ?1",
                    params![agent.id, agent.name, to_json(&agent)?],
                )
                .map_err(err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(agent)
        })
        .await
    }

    async fn delete_agent(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            match c
                .execute("DELETE FROM agent_profiles WHERE id = ?1", [&id])
                .map_err(err)?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list_agents(&self) -> StoreResult<Vec<AgentProfile>> {
        self.read(|c| {
            many(
                c,
                "SELECT doc FROM agent_profiles ORDER BY name, id",
                Vec::new(),
            )
        })
        .await
    }
}
