//! What the load tool measures: the frames' latencies with their send times, the
//! window in which every call streams, and the CPU of the appliance and of the tool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) static EPOCH: OnceLock<Instant> = OnceLock::new();

pub(crate) fn now_ns() -> u64 {
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Default)]
pub(crate) struct Stats {
    /// Each echo's latency in µs, with its frame's send time (ns since [`EPOCH`]).
    pub(crate) inbound_us: Mutex<Vec<(u64, u32)>>,
    pub(crate) outbound_us: Mutex<Vec<(u64, u32)>>,
    pub(crate) sent_in: AtomicU64,
    pub(crate) got_in: AtomicU64,
    pub(crate) sent_out: AtomicU64,
    pub(crate) got_out: AtomicU64,
    /// Bytes received by `/monitor` listeners (with `listen`).
    pub(crate) listened: AtomicU64,
    /// Listeners closed before the call ended (`slow_listener`), or never let in.
    pub(crate) listeners_dropped: AtomicU64,
    /// Phones that sent their first frame / their last one.
    pub(crate) streaming: AtomicU64,
    pub(crate) finished: AtomicU64,
    /// When every call streams: the latest first frame's send time and the earliest
    /// last frame's (ns since [`EPOCH`]).
    pub(crate) window: Mutex<(u64, Option<u64>)>,
}

impl Stats {
    pub(crate) fn first_frame_sent(&self, at: u64) {
        self.streaming.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.window.lock() {
            w.0 = w.0.max(at);
        }
    }

    pub(crate) fn last_frame_sent(&self, at: u64) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.window.lock() {
            w.1 = Some(w.1.map_or(at, |t| t.min(at)));
        }
    }

    /// Every latency of one direction, in µs.
    pub(crate) fn latencies(of: &Mutex<Vec<(u64, u32)>>) -> Vec<u32> {
        of.lock()
            .map(|v| v.iter().map(|(_, us)| *us).collect())
            .unwrap_or_default()
    }

    /// The latencies of one direction's frames sent while every call streamed; empty
    /// if that window never opened (a call failed before its first frame).
    pub(crate) fn steady_latencies(&self, of: &Mutex<Vec<(u64, u32)>>, calls: usize) -> Vec<u32> {
        let window = self.window.lock().map(|w| *w).unwrap_or_default();
        let (from, Some(to)) = window else {
            return Vec::new();
        };
        if self.streaming.load(Ordering::Relaxed) < calls as u64 {
            return Vec::new();
        }
        of.lock()
            .map(|v| {
                v.iter()
                    .filter(|(sent, _)| (from..to).contains(sent))
                    .map(|(_, us)| *us)
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn us(ns: u64) -> u32 {
    u32::try_from(ns / 1000).unwrap_or(u32::MAX)
}

pub(crate) fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn pct(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1);
    f64::from(v[i]) / 1000.0
}

/// CPU seconds (in all, in user space) process `pid` used since `before`.
pub(crate) fn cpu_since(pid: u32, before: (u64, u64)) -> (f64, f64) {
    let (user, system) = agent5_e2e::proc_cpu_split(pid);
    let user = user.saturating_sub(before.0) as f64 / 100.0;
    (user + system.saturating_sub(before.1) as f64 / 100.0, user)
}

/// CPU in % of one core while every call streams: the appliance's (in all, in user
/// space) and the tool's, from the moment the last phone sent its first frame until
/// the first phone sent its last; `None` if that window never opened.
pub(crate) struct Steady {
    pub(crate) cpu: f64,
    pub(crate) user: f64,
    pub(crate) tool: f64,
}

impl Steady {
    /// The window's figures, if it closed by the time the calls ended.
    pub(crate) async fn taken(window: tokio::task::JoinHandle<Option<Steady>>) -> Option<Steady> {
        if window.is_finished() {
            window.await.ok().flatten()
        } else {
            window.abort();
            None
        }
    }

    /// The `steady_` fields of the report line.
    pub(crate) fn describe(steady: Option<&Steady>, stats: &Stats, calls: usize) -> String {
        let Some(s) = steady else {
            return "steady_cpu=none".to_owned();
        };
        let mut steady_in = stats.steady_latencies(&stats.inbound_us, calls);
        let mut steady_out = stats.steady_latencies(&stats.outbound_us, calls);
        format!(
            "steady_cpu={:.0}% steady_user={:.0}% steady_tool_cpu={:.0}% steady_frames={} steady_p99={:.2}ms/{:.2}ms",
            s.cpu,
            s.user,
            s.tool,
            steady_in.len() + steady_out.len(),
            pct(&mut steady_in, 0.99),
            pct(&mut steady_out, 0.99)
        )
    }
}

/// Waits until all `calls` stream; `false` if one ends before the last starts (there is
/// no window in which every call streams).
pub(crate) async fn all_streaming(stats: &Stats, calls: u64) -> bool {
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while stats.streaming.load(Ordering::Relaxed) < calls {
        if stats.finished.load(Ordering::Relaxed) > 0 {
            return false;
        }
        poll.tick().await;
    }
    true
}

pub(crate) async fn steady_window(pid: u32, calls: u64, stats: Arc<Stats>) -> Option<Steady> {
    if !all_streaming(&stats, calls).await {
        return None;
    }
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    let (app0, tool0, t0) = (
        agent5_e2e::proc_cpu_split(pid),
        agent5_e2e::proc_cpu_ticks(std::process::id()),
        Instant::now(),
    );
    while stats.finished.load(Ordering::Relaxed) == 0 {
        poll.tick().await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (cpu, user) = cpu_since(pid, app0);
    let tool = agent5_e2e::proc_cpu_ticks(std::process::id()).saturating_sub(tool0) as f64 / 100.0;
    (secs >= 1.0).then(|| Steady {
        cpu: cpu / secs * 100.0,
        user: user / secs * 100.0,
        tool: tool / secs * 100.0,
    })
}
