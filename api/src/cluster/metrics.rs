//! `agent5_cluster_*`: the appliances this one sees, and what its reaper did.

use prometheus::{IntCounter, IntGauge, Registry};

#[derive(Clone)]
pub struct ClusterMetrics {
    /// Appliance lives whose heartbeat is fresh (seen by this node's last pass).
    pub nodes_alive: IntGauge,
    /// Lives this node declared lost.
    pub nodes_lost: IntCounter,
    /// Calls this node ended because their appliance was lost.
    pub calls_ended: IntCounter,
    /// Times this node found itself declared lost and started a new epoch.
    pub epochs_renewed: IntCounter,
}

impl std::fmt::Debug for ClusterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterMetrics")
    }
}

impl ClusterMetrics {
    /// The metric table (names and help texts are constants).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // Constant names: construction cannot fail.
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        Self {
            nodes_alive: IntGauge::new(
                "agent5_cluster_nodes_alive",
                "Appliance lives with a fresh heartbeat in the store",
            )
            .expect("valid metric"),
            nodes_lost: counter(
                "agent5_cluster_nodes_lost_total",
                "Appliance lives this node declared lost",
            ),
            calls_ended: counter(
                "agent5_cluster_calls_ended_node_lost_total",
                "Calls ended as node_lost because their appliance was lost",
            ),
            epochs_renewed: counter(
                "agent5_cluster_epochs_renewed_total",
                "Times this appliance found itself declared lost and started a new epoch",
            ),
        }
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.nodes_alive.clone()))?;
        registry.register(Box::new(self.nodes_lost.clone()))?;
        registry.register(Box::new(self.calls_ended.clone()))?;
        registry.register(Box::new(self.epochs_renewed.clone()))?;
        Ok(())
    }
}

impl Default for ClusterMetrics {
    fn default() -> Self {
        Self::new()
    }
}
