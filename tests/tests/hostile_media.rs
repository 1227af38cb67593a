//! Hostile media frames on a live call's `/websocket` (with its valid stream token, as a
//! broken or malicious carrier would send them): timestamps that would place audio
//! gigabytes ahead or wrap, sequence numbers at the end of the range, oversized and
//! empty payloads. Each is dropped and counted by reason; the appliance keeps answering
//! and the same call keeps relaying the caller's audio and records a sane file.

mod call_rig;

use agent5_e2e::fake_media::frame;
use agent5_e2e::fake_realtime::Script;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use call_rig::*;
use serde_json::{json, Value};

fn media(seq: &str, ts: &str, payload: &str) -> Value {
    json!({"event": "media", "sequence_number": seq, "stream_id": "stream-1",
        "media": {"track": "inbound", "chunk": seq, "timestamp": ts, "payload": payload}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_make_no_sense_are_dropped_and_the_call_goes_on() {
    let rig = rig(Script::default(), "").await;
    let (id, mut phone) = answered(&rig, true, 5).await;
    let end = phone.talk(0x11, 10, 0, None).await;
    let good = STANDARD.encode(frame(0x22, 0));
    let big = STANDARD.encode(vec![0x33; 64 * 1024]);
    let next = 20; // well past the frames sent so far
    let hostile = [
        // 1e10 ms: the recorder was asked for 80 GB and the process aborted.
        media(&next.to_string(), "10000000000", &good),
        media(&(next + 1).to_string(), "1000000000", &good),
        media(&(next + 2).to_string(), "18446744073709551615", &good),
        media("18446744073709551615", "220", &good),
        media(&(next + 3).to_string(), "240", &big),
        media(&(next + 4).to_string(), "260", ""),
    ];
    for f in &hostile {
        phone.send(f);
    }
    // The same call carries on: later frames still reach the agent.
    let appended_before = appended(&rig);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    for i in 0..10u64 {
        tick.tick().await;
        phone.media(next + 5 + i, end + 200 + i * 20, &frame(0x44, 0));
    }
    rig.agent
        .wait_event(0, |_| appended(&rig) >= appended_before + 10)
        .await;
    assert_eq!(rig.get("/healthz", false).await.status, 200);
    for (reason, n) in [("timestamp", 3.0), ("sequence", 1.0), ("payload", 2.0)] {
        assert_eq!(
            rig.metric(&format!(
                "agent5_media_frames_rejected_total{{reason=\"{reason}\"}}"
            ))
            .await,
            n,
            "{reason}"
        );
    }
    phone.stop();
    rig.call_until(&id, |c| !c["recording"].is_null()).await;
    let rec = rig.get(&format!("/api/calls/{id}/recording"), true).await;
    assert_eq!(rec.status, 200);
    let w = wav(&rec.body);
    // A few seconds of stereo µ-law (16 kB/s), nothing near what the frames asked for;
    // the caller's frames around the hostile ones are where their timestamps say.
    assert!(w.data_len < 200_000, "recording of {} bytes", w.data_len);
    assert_eq!(&w.left[..160], frame(0x11, 0).as_slice());
    let at = usize::try_from((end + 200) * 8).unwrap_or(usize::MAX);
    assert_eq!(&w.left[at..at + 160], frame(0x44, 0).as_slice());
}

/// Audio appends the fake agent has received on its first connection.
fn appended(rig: &Rig) -> usize {
    rig.agent
        .events(0)
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.append")
        .count()
}

/// Peak resident memory of process `pid` (kB), from `/proc`.
fn peak_rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Thirty parallel one-byte ranges of an hour-long recording converted to PCM16: each
/// reads and converts only its range (the whole file was read and converted per
/// request before: 1.9 GB resident for this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_recordings_are_served_in_ranges_without_loading_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let rig = rig_in(Script::default(), "", Some(dir.path())).await;
    let (id, mut phone) = answered(&rig, true, 5).await;
    phone.stop();
    rig.call_until(&id, |c| !c["recording"].is_null()).await;
    // Swap in an hour of stereo µ-law (57.6 MB) behind the recording's header.
    let path = dir.path().join("recordings").join(format!("{id}.wav"));
    let mut bytes = std::fs::read(&path).expect("recording");
    bytes.truncate(58);
    bytes.resize(58 + 3600 * 16_000, 0xFF);
    std::fs::write(&path, &bytes).expect("write");
    let pid = rig.app.pid();
    let before = peak_rss_kb(pid);
    let uri = format!("/api/calls/{id}/recording?format=pcm16");
    let replies =
        futures_util::future::join_all((0..30).map(|_| rig.get_range(&uri, "bytes=0-0"))).await;
    for r in &replies {
        assert_eq!(r.status, 206);
        assert_eq!(r.body.as_ref(), b"R");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let total = 44 + 2 * 3600 * 16_000;
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 0-0/{total}").as_str())
        );
    }
    let tail = rig.get_range(&uri, "bytes=-4").await;
    assert_eq!((tail.status.as_u16(), tail.body.len()), (206, 4));
    let grown = peak_rss_kb(pid).saturating_sub(before);
    assert!(grown < 64 * 1024, "peak RSS grew by {grown} kB");
}

/// Started with umask 022 (a shell, a container), the appliance still keeps its
/// database, its WAL and the recordings to itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let dir = tempfile::tempdir().expect("tmp");
    let rig = rig_in(Script::default(), "", Some(dir.path())).await;
    nix::sys::stat::umask(old);
    let (id, mut phone) = answered(&rig, true, 5).await;
    phone.stop();
    rig.call_until(&id, |c| !c["recording"].is_null()).await;
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let d = dir.path();
    assert_eq!(mode(d.join("agent5.db")), 0o600);
    assert_eq!(mode(d.join("agent5.db-wal")), 0o600);
    assert_eq!(mode(d.join("recordings")), 0o700);
    assert_eq!(mode(d.join("recordings").join(format!("{id}.wav"))), 0o600);
}

/// While the edge is flooded (stalled heads, heads over the cap, held connections), a
/// live call keeps relaying its caller's audio and `/healthz` keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_keeps_its_audio_while_the_edge_is_flooded() {
    use tokio::io::AsyncWriteExt;
    let rig = rig(Script::default(), "[limits]\nmax_head_bytes = 8192\n").await;
    let (_id, mut phone) = answered(&rig, true, 5).await;
    let sock = rig.sock();
    let mut held = Vec::new();
    let big = format!("x-pad: {}\r\n", "a".repeat(60_000));
    for i in 0..150 {
        let Ok(mut s) = tokio::net::UnixStream::connect(&sock).await else {
            continue;
        };
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nhost: a\r\n").await;
        if i % 3 == 0 {
            let _ = s.write_all(big.as_bytes()).await;
        }
        held.push(s);
    }
    let before = appended(&rig);
    phone.talk(0x55, 50, 0, None).await;
    rig.agent
        .wait_event(0, |_| appended(&rig) >= before + 50)
        .await;
    assert_eq!(rig.get("/healthz", false).await.status, 200);
    assert!(rig.metric("agent5_http_heads_rejected_total").await >= 1.0);
    drop(held);
}
