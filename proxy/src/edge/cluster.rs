//! Listen-in and operator sockets for a call another appliance holds (several
//! appliances on one store, docs/cluster.md): where the call is, and the answer when
//! the socket cannot be forwarded there (see [`super::hop`]).

use axum::body::Body;
use http::StatusCode;

use super::{respond, Shared};

/// Bound on the store reads of the check.
const STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the call a socket asks for is held.
pub enum Location {
    /// Here, or not a live call anywhere (the bridge closes with `unknown_call`).
    Here,
    /// Another appliance's live life.
    Peer {
        call_id: String,
        node: agent5_api::model::NodeRecord,
    },
    /// An appliance that was lost (its calls are being ended).
    Lost { call_id: String, node: String },
}

/// Finds the appliance holding the call named by the socket's `call=`.
pub async fn locate(shared: &Shared, query: &str) -> Location {
    let Some(call_id) = call_param(query) else {
        return Location::Here;
    };
    if shared.bridge.live().contains(&call_id) {
        return Location::Here;
    }
    let Ok(Ok(call)) = tokio::time::timeout(STORE_TIMEOUT, shared.store.get_call(&call_id)).await
    else {
        return Location::Here;
    };
    let Some(owner) = call.owner.filter(|_| call.status.is_live()) else {
        return Location::Here;
    };
    if owner.epoch == shared.identity.epoch() {
        return Location::Here;
    }
    let Ok(Ok(nodes)) = tokio::time::timeout(STORE_TIMEOUT, shared.store.list_nodes()).await else {
        return Location::Here;
    };
    match nodes.into_iter().find(|n| n.node.epoch == owner.epoch) {
        Some(n) if n.alive => Location::Peer {
            call_id,
            node: n.node,
        },
        _ => Location::Lost {
            call_id,
            node: owner.node,
        },
    }
}

/// The answer when the socket is not forwarded: `421 call_on_other_node` naming the
/// appliance that holds it while that one lives (no internal hop to it), `410
/// node_lost` once it was lost.
pub fn refusal(location: &Location) -> Option<http::Response<Body>> {
    match location {
        Location::Here => None,
        Location::Peer { call_id, node } => Some(respond::error(
            StatusCode::MISDIRECTED_REQUEST,
            "call_on_other_node",
            &format!(
                "call {call_id} is held by appliance {}{}: listen to it or take it over from that appliance's console",
                node.id,
                if node.public_url.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", node.public_url)
                }
            ),
        )),
        Location::Lost { call_id, node } => Some(respond::error(
            StatusCode::GONE,
            "node_lost",
            &format!("the appliance holding call {call_id} ({node}) stopped; the call is being ended"),
        )),
    }
}

/// The call a listen-in or operator socket names, read exactly as the bridge reads it
/// (`call=` or `room=`, the last one given).
fn call_param(query: &str) -> Option<String> {
    agent5_bridge::monitor::parse(query)
        .ok()
        .map(|l| l.call_id)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::call_param;

    #[test]
    fn the_call_is_read_as_the_bridge_reads_it() {
        assert_eq!(call_param("call=c1&token=x").as_deref(), Some("c1"));
        assert_eq!(call_param("room=c2&operator=bob").as_deref(), Some("c2"));
        assert_eq!(call_param("call=c1&room=c3").as_deref(), Some("c3"));
        assert_eq!(call_param("calls=c1"), None);
        assert_eq!(call_param(""), None);
    }
}
