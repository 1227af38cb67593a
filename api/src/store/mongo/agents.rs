//! [`AgentStore`] on MongoDB: agent profiles, unique by name.

use super::{err_on, with_id, MongoStore};
use crate::model::AgentProfile;
use crate::store::{AgentStore, StoreResult};
use async_trait::async_trait;
use mongodb::bson::doc;

#[async_trait]
impl AgentStore for MongoStore {
    async fn create_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.coll("agent_profiles")
            .insert_one(with_id(&agent, &agent.id)?)
            .await
            .map_err(err_on("name"))?;
        Ok(agent)
    }

    async fn get_agent(&self, id: &str) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.one("agent_profiles", doc! { "_id": id }).await
    }

    async fn update_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile> {
        self.ready().await?;
        self.replace_by_id(
            "agent_profiles",
            &agent.id,
            with_id(&agent, &agent.id)?,
            "name",
        )
        .await?;
        Ok(agent)
    }

    async fn delete_agent(&self, id: &str) -> StoreResult<()> {
        self.ready().await?;
        self.delete_by_id("agent_profiles", id).await
    }

    async fn list_agents(&self) -> StoreResult<Vec<AgentProfile>> {
        self.ready().await?;
        self.all("agent_profiles", doc! {}, doc! { "name": 1, "_id": 1 })
            .await
    }
}
