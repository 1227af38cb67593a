//! The demo carrier's side of campaign calls: the appliance's dialler dials by itself,
//! so the fake carrier's dial requests are watched and each campaign call's phone rings.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{rand_u128, request, ring, Demo};

/// Campaign calls: the appliance's dialler dials by itself, so the demo's carrier
/// watches its dial requests and rings the phone of each campaign call.
pub(super) async fn answer_campaign_calls(demo: Arc<Demo>) {
    let mut seen = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let dials: Vec<String> = demo
            .telnyx
            .requests_to("/calls")
            .into_iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| {
                let url = r.body["stream_url"].as_str()?;
                Some(url.rsplit_once("call=")?.1.to_owned())
            })
            .filter(|id| !seen.contains(id))
            .collect();
        for id in dials {
            let Ok((200, call)) = request(
                &demo,
                "GET",
                &format!("/api/calls/{id}"),
                "application/json",
                Bytes::new(),
            )
            .await
            else {
                continue;
            };
            if call["campaign_id"].is_null() {
                seen.insert(id);
                continue;
            }
            let Some(ccid) = call["call_control_id"].as_str().map(str::to_owned) else {
                // The carrier's answer is not stored yet: next round.
                continue;
            };
            seen.insert(id.clone());
            let phone = call["phone"].as_str().unwrap_or_default().to_owned();
            let demo = Arc::clone(&demo);
            tokio::spawn(async move {
                match ring(&demo, id, ccid, phone).await {
                    Ok((id, mut ended)) => {
                        // A campaign call lasts a few seconds in the demo.
                        let seconds = 4 + (rand_u128() % 4) as u64;
                        let handle = demo.calls.lock().ok().and_then(|c| c.get(&id).cloned());
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(seconds)) => {
                                if let Some(h) = handle {
                                    let _ = h.end.send(true);
                                }
                                let _ = ended.changed().await;
                            }
                            _ = ended.changed() => {}
                        }
                    }
                    Err(e) => eprintln!("agent5-demo: campaign call not answered: {e}"),
                }
            });
        }
    }
}
