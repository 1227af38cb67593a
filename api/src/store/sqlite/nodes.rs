//! [`NodeStore`] on SQLite: one row per node life (id, epoch). Heartbeats are stamped and judged with
//! SQLite's own clock (`DB_NOW_MS`), like leases.

use super::support::*;
use super::{err, SqliteStore};
use crate::model::{Millis, NodeRecord, NodeStatus};
use crate::store::{NodeStore, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl NodeStore for SqliteStore {
    async fn register_node(&self, node: NodeRecord, ttl_ms: i64) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO nodes (id, epoch, started_at, heartbeat_at, ttl_ms, lost_at, doc)
                     VALUES (?1, ?2, ?3, {DB_NOW_MS}, ?4, NULL, ?5)
                     ON CONFLICT (id, epoch) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                         ttl_ms = excluded.ttl_ms, doc = excluded.doc
                     WHERE nodes.lost_at IS NULL"
                ),
                params![
                    node.id,
                    node.epoch,
                    node.started_at,
                    ttl_ms,
                    to_json(&node)?
                ],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    async fn heartbeat_node(&self, id: &str, epoch: &str, ttl_ms: i64) -> StoreResult<bool> {
        let (id, epoch) = (id.to_owned(), epoch.to_owned());
        self.write(move |c| {
            let n = c
                .execute(
                    &format!(
                        "UPDATE nodes SET heartbeat_at = {DB_NOW_MS}, ttl_ms = ?3
                         WHERE id = ?1 AND epoch = ?2 AND lost_at IS NULL"
                    ),
                    params![id, epoch, ttl_ms],
                )
                .map_err(err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeStatus>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT doc, {DB_NOW_MS} - heartbeat_at, ttl_ms, lost_at FROM nodes ORDER BY id, started_at, epoch"
                ))
                .map_err(err)?;
            let rows = s
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<Millis>>(3)?,
                    ))
                })
                .map_err(err)?;
            rows.map(|row| {
                let (doc, silent_ms, ttl_ms, lost_at) = row.map_err(err)?;
                Ok(NodeStatus {
                    node: from_json(&doc)?,
                    silent_ms,
                    ttl_ms,
                    alive: lost_at.is_none() && silent_ms < ttl_ms,
                    lost_at,
                })
            })
            .collect()
        })
        .await
    }

    async fn claim_lost_node(&self, id: &str, epoch: &str, at: Millis) -> StoreResult<bool> {
        let (id, epoch) = (id.to_owned(), epoch.to_owned());
        self.write(move |c| {
            let n = c
                .execute(
                    &format!(
                        "UPDATE nodes SET lost_at = ?3
                         WHERE id = ?1 AND epoch = ?2 AND lost_at IS NULL
                           AND {DB_NOW_MS} - heartbeat_at >= ttl_ms"
                    ),
                    params![id, epoch, at],
                )
                .map_err(err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_node(&self, id: &str, epoch: &str) -> StoreResult<()> {
        let (id, epoch) = (id.to_owned(), epoch.to_owned());
        self.write(move |c| {
            c.execute(
                "DELETE FROM nodes WHERE id = ?1 AND epoch = ?2",
                [&id, &epoch],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }
}
