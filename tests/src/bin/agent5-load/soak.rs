//! `agent5-load … soak`: call slots, CSV uploads and webhooks against one appliance for
//! a long run, with its RSS and open files sampled (see the tool's top comment).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent5_e2e::fake_telnyx::FakeTelnyx;
use serde_json::json;

use tokio::net::TcpListener;

use crate::measure::{proc_status_kb, Stats};
use crate::upload::upload;
use crate::{echo_agent, one_call, start_appliance, webhook};

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A 500-row prospects upload every 10 s until `deadline`; counts the complete ones.
async fn soak_uploads(addr: std::net::SocketAddr, deadline: Instant, up: Arc<AtomicU64>) {
    let mut round = 0;
    while Instant::now() < deadline {
        if upload(addr, round, 500).await == Some(500) {
            up.fetch_add(1, Ordering::Relaxed);
        }
        round += 1;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// A signed webhook every 100 ms until `deadline`; counts the accepted ones.
async fn soak_webhooks(addr: std::net::SocketAddr, deadline: Instant, wh: Arc<AtomicU64>) {
    let mut n = 0u64;
    while Instant::now() < deadline {
        let id = format!("soak-{}-{n}", std::process::id());
        let payload = json!({"call_control_id": format!("v2:soak-{}", n % 100)});
        if webhook(addr, &id, "call.bridged", payload).await {
            wh.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Call slot `i` of the soak: one-minute calls back to back until `deadline`, each
/// hung up by a carrier webhook (which frees its place); counts placed and failed calls.
async fn soak_call_slot(
    i: usize,
    addr: std::net::SocketAddr,
    telnyx: FakeTelnyx,
    stats: Arc<Stats>,
    failures: Arc<AtomicU64>,
    placed: Arc<AtomicU64>,
    deadline: Instant,
) {
    let mut n = 0usize;
    while Instant::now() + Duration::from_secs(61) < deadline {
        let listener = (i % 4 == 0).then_some(16_000);
        let number = i * 1000 + n % 1000;
        let outcome = one_call(
            number,
            addr,
            telnyx.clone(),
            60,
            Arc::clone(&stats),
            listener,
        )
        .await;
        match outcome {
            // The carrier reports the hang-up, which frees the call's place.
            Ok(ccid) => {
                let id = format!("soak-hangup-{i}-{n}-{}", std::process::id());
                let payload = json!({"call_control_id": ccid, "hangup_cause": "normal_clearing"});
                webhook(addr, &id, "call.hangup", payload).await;
            }
            Err(e) => {
                if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("soak: call failed: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        placed.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
}

pub async fn run_soak(bin: String, calls: usize, seconds: u64) -> bool {
    let stats = Arc::new(Stats::default());
    let telnyx = FakeTelnyx::start("KEYload").await;
    let agent_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind agent");
    let agent_addr = agent_listener.local_addr().expect("addr");
    tokio::spawn(echo_agent(agent_listener, Arc::clone(&stats)));
    let mut app = start_appliance(&bin, &telnyx, agent_addr, calls).await;
    let (pid, addr) = (app.child.id(), app.addr);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let failures = Arc::new(AtomicU64::new(0));
    let placed = Arc::new(AtomicU64::new(0));
    for i in 0..calls {
        let (telnyx, stats, failures, placed) = (
            telnyx.clone(),
            Arc::clone(&stats),
            Arc::clone(&failures),
            Arc::clone(&placed),
        );
        tokio::spawn(soak_call_slot(
            i, addr, telnyx, stats, failures, placed, deadline,
        ));
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    // Uploads and signed webhooks alongside.
    let uploads = Arc::new(AtomicU64::new(0));
    tokio::spawn(soak_uploads(addr, deadline, Arc::clone(&uploads)));
    let hooks = Arc::new(AtomicU64::new(0));
    tokio::spawn(soak_webhooks(addr, deadline, Arc::clone(&hooks)));
    // Samples: RSS (MB) and open files every 10 s.
    let started = Instant::now();
    let warmup = Duration::from_secs(seconds / 5);
    let mut samples: Vec<(f64, f64, usize)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    while Instant::now() < deadline {
        tick.tick().await;
        let rss = proc_status_kb(pid, "VmRSS:") as f64 / 1024.0;
        let fds = open_files(pid);
        let t = started.elapsed().as_secs_f64();
        samples.push((t, rss, fds));
        println!(
            "t={t:.0}s rss={rss:.1}MB fds={fds} calls_placed={} call_failures={} uploads={} webhooks={}",
            placed.load(Ordering::Relaxed),
            failures.load(Ordering::Relaxed),
            uploads.load(Ordering::Relaxed),
            hooks.load(Ordering::Relaxed),
        );
    }
    let at = |t: f64| {
        samples
            .iter()
            .find(|s| s.0 >= t)
            .or(samples.last())
            .copied()
    };
    let (Some(first), Some(warm), Some(last)) = (
        samples.first().copied(),
        at(warmup.as_secs_f64()),
        samples.last().copied(),
    ) else {
        eprintln!("soak: no samples");
        return false;
    };
    // After warm-up: the highest RSS and open-file count seen.
    let after = samples.iter().filter(|s| s.0 >= warm.0);
    let (peak_rss, peak_fds) = after.fold((0.0f64, 0usize), |(r, f), s| (r.max(s.1), f.max(s.2)));
    let _ = app.child.kill();
    let _ = app.child.wait();
    drop(app.work);
    // The highest seen after warm-up, not only the last sample (calls end at the deadline).
    let rss_ok = peak_rss <= warm.1 * 1.2 + 16.0;
    let fds_ok = peak_fds <= warm.2 + 32;
    println!(
        "soak: calls={calls} seconds={seconds} start rss={:.1}MB fds={} | after warm-up ({:.0}s) rss={:.1}MB fds={} | end rss={:.1}MB fds={} | peak after warm-up rss={peak_rss:.1}MB fds={peak_fds} | calls placed={} failed={} uploads={} webhooks={} frames lost caller->agent={} agent->caller={} | {}",
        first.1, first.2, warm.0, warm.1, warm.2, last.1, last.2,
        placed.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        uploads.load(Ordering::Relaxed),
        hooks.load(Ordering::Relaxed),
        stats.sent_in.load(Ordering::Relaxed).saturating_sub(stats.got_in.load(Ordering::Relaxed)),
        stats.sent_out.load(Ordering::Relaxed).saturating_sub(stats.got_out.load(Ordering::Relaxed)),
        if rss_ok && fds_ok { "PASS" } else { "FAIL: grew after warm-up" }
    );
    rss_ok && fds_ok
}
