//! End-to-end harness: start the real `agent5` process from a temp config, learn its
//! bound addresses from its own log (readiness through a channel, never a sleep), and
//! drive it with real HTTP, TLS and WebSocket clients.

pub mod appliance;
pub mod certs;
pub mod client;
pub mod fake_media;
pub mod fake_realtime;
pub mod fake_telnyx;
pub mod fuzz_harness;
pub mod people;
pub mod sse;
pub mod tones;

pub use appliance::{Appliance, Spec};

/// The `[store]` section several appliances of one test share: a fresh database named
/// `<prefix>_<random>` on the MongoDB at `AGENT5_TEST_MONGO_URI`, else one SQLite file
/// in `dir` (a failure when `AGENT5_REQUIRE_MONGO` is set without a URI).
pub fn shared_store_section(dir: &std::path::Path, prefix: &str) -> String {
    match std::env::var("AGENT5_TEST_MONGO_URI") {
        Ok(uri) => {
            let db = format!("{prefix}_{}", &agent5_api::model::new_id()[..8]);
            format!(
                "[store]\nmongo_uri = \"{}\"\n",
                uri.replacen("/?", &format!("/{db}?"), 1)
            )
        }
        Err(_) => {
            assert!(
                std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
                "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
            );
            format!(
                "[store]\nsqlite_path = \"{}\"\n",
                dir.join("agent5.db").display()
            )
        }
    }
}

/// User plus system CPU time of process `pid` so far, in clock ticks (`USER_HZ`, 100
/// a second), from `/proc/<pid>/stat`; 0 when it cannot be read.
pub fn proc_cpu_ticks(pid: u32) -> u64 {
    let (user, system) = proc_cpu_split(pid);
    user + system
}

/// The CPU ticks (1/100 s) process `pid` has used so far, in user space and in the
/// kernel, from `/proc/PID/stat` (0 if unreadable).
pub fn proc_cpu_split(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(11), field(12))
}
