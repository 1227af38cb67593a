//! Listen-in and operator sockets for a call another appliance holds (several
//! appliances on one store, docs/cluster.md): answered before the upgrade with where
//! the call is, until the internal hop that forwards them exists.

use axum::body::Body;
use http::StatusCode;

use super::{respond, Shared};

/// Bound on the store reads of the check.
const STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `None` when the bridge should answer (the call is this appliance's, or is not a live
/// call anywhere: the bridge closes with `unknown_call` as before); otherwise `421
/// call_on_other_node` naming the appliance that holds it while that one lives, or
/// `410 node_lost` once it was lost (its calls are being ended).
pub async fn held_elsewhere(shared: &Shared, query: &str) -> Option<http::Response<Body>> {
    let call_id = url_param(query, "call")?;
    if shared.bridge.live().contains(&call_id) {
        return None;
    }
    let call = tokio::time::timeout(STORE_TIMEOUT, shared.store.get_call(&call_id))
        .await
        .ok()?
        .ok()?;
    let owner = call.owner.filter(|_| call.status.is_live())?;
    if owner.epoch == shared.identity.epoch() {
        return None;
    }
    let nodes = tokio::time::timeout(STORE_TIMEOUT, shared.store.list_nodes())
        .await
        .ok()?
        .ok()?;
    let life = nodes.iter().find(|n| n.node.epoch == owner.epoch);
    Some(match life {
        Some(n) if n.alive => respond::error(
            StatusCode::MISDIRECTED_REQUEST,
            "call_on_other_node",
            &format!(
                "call {call_id} is held by appliance {}{}: listen to it or take it over from that appliance's console",
                n.node.id,
                if n.node.public_url.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", n.node.public_url)
                }
            ),
        ),
        _ => respond::error(
            StatusCode::GONE,
            "node_lost",
            &format!(
                "the appliance holding call {call_id} ({}) stopped; the call is being ended",
                owner.node
            ),
        ),
    })
}

/// The first value of `name` in a query string, percent-decoded.
fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::url_param;

    #[test]
    fn the_call_parameter_is_read_decoded() {
        assert_eq!(url_param("call=c1&token=x", "call").as_deref(), Some("c1"));
        assert_eq!(
            url_param("token=x&call=a%2Fb", "call").as_deref(),
            Some("a/b")
        );
        assert_eq!(url_param("calls=c1", "call"), None);
        assert_eq!(url_param("", "call"), None);
    }
}
