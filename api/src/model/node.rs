//! The appliances of one installation: each registers itself in the store at start
//! (a new epoch per start) and keeps a heartbeat whose freshness the database's clock
//! judges, so a node whose clock is wrong is judged like any other.

use serde::{Deserialize, Serialize};

use super::Millis;

/// What a node says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Its name (`[cluster] node`), stable across restarts.
    pub id: String,
    /// New at every start: calls and dial intents carry it, so a node that comes back
    /// never takes over what its previous life left behind.
    pub epoch: String,
    /// Where Telnyx and browsers reach it.
    pub public_url: String,
    /// Where the other appliances reach its internal listener (`10.0.0.2:7070` or
    /// `unix:/path`); empty when it has none (then nothing is forwarded to it).
    #[serde(default)]
    pub internal_addr: String,
    pub version: String,
    pub started_at: Millis,
}

/// A node as the cluster sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    #[serde(flatten)]
    pub node: NodeRecord,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub silent_ms: i64,
    /// How long a heartbeat keeps it alive.
    pub ttl_ms: i64,
    /// A heartbeat younger than `ttl_ms` and not declared lost.
    pub alive: bool,
    /// When a surviving node ended this epoch's calls (its clock).
    pub lost_at: Option<Millis>,
}

/// A stretch of a call's recording copied into the store (docs/cluster.md): the audio
/// bytes from `offset` (counted from the start of the WAV's data, after its header),
/// so any appliance can serve the recording and an appliance's loss costs at most the
/// copy interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingPart {
    pub call_id: String,
    pub offset: u64,
    pub data: Vec<u8>,
}

impl RecordingPart {
    /// The data offset just past this part.
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}
