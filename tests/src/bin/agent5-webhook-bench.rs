//! `agent5-webhook-bench ADDR [REQUESTS] [CONCURRENCY]`: signed Telnyx webhooks against
//! a running appliance (ADDR is `127.0.0.1:PORT` or `unix:/path`), each with a unique
//! event id, over CONCURRENCY keep-alive HTTP/1.1 connections. Bodies are signed with
//! the published Telnyx test key before the clock starts, so the figure is the
//! appliance's: verify, parse, durable record, 200. Prints accepted/s and latency.
//! Loopback only: it refuses any other address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agent5_e2e::fake_telnyx::{carrier_time, envelope, now_millis, now_unix, WebhookSigner};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

enum Target {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

async fn connection(target: &Target) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    macro_rules! handshake {
        ($stream:expr) => {{
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            sender
        }};
    }
    match target {
        Target::Tcp(a) => handshake!(tokio::net::TcpStream::connect(a).await.expect("connect")),
        Target::Unix(p) => handshake!(tokio::net::UnixStream::connect(p).await.expect("connect")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(addr) = args.get(1) else {
        eprintln!("usage: agent5-webhook-bench 127.0.0.1:PORT|unix:/path [requests] [concurrency]");
        std::process::exit(2);
    };
    let requests: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(32);
    let target = match addr.strip_prefix("unix:") {
        Some(p) => Target::Unix(p.into()),
        None => {
            let a: SocketAddr = addr.parse().expect("IP:PORT");
            assert!(a.ip().is_loopback(), "the bench only sends to loopback");
            Target::Tcp(a)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(target, requests, concurrency));
}

async fn run(target: Target, requests: usize, concurrency: usize) {
    let signer = WebhookSigner::test_key();
    let run_id: u64 = now_unix().unsigned_abs();
    let ts = now_unix();
    let occurred_at = carrier_time(now_millis());
    // Pre-signed: a dtmf event per request, spread over 500 calls.
    let bodies: Vec<(String, String)> = (0..requests)
        .map(|i| {
            let body = envelope(
                &format!("bench-{run_id}-{i}"),
                "call.dtmf.received",
                &occurred_at,
                json!({"call_control_id": format!("v2:bench-{}", i % 500), "digit": "5"}),
            );
            let sig = signer.sign(ts, &body);
            (body, sig)
        })
        .collect();
    let per = requests.div_ceil(concurrency);
    let chunks: Vec<Vec<(String, String)>> = bodies.chunks(per).map(<[_]>::to_vec).collect();
    let target = std::sync::Arc::new(target);
    let started = Instant::now();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let target = std::sync::Arc::clone(&target);
            tokio::spawn(async move {
                let mut sender = connection(&target).await;
                let mut lat = Vec::with_capacity(chunk.len());
                let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
                for (body, sig) in chunk {
                    let req = Request::post("/api/telnyx/events")
                        .header("host", "agent5.bench")
                        .header("content-type", "application/json")
                        .header("telnyx-timestamp", ts.to_string())
                        .header("telnyx-signature-ed25519", sig)
                        .body(Full::new(Bytes::from(body)))
                        .expect("request");
                    let t = Instant::now();
                    let res = sender.send_request(req).await.expect("send");
                    let status = res.status().as_u16();
                    let _ = res.into_body().collect().await;
                    lat.push(t.elapsed());
                    *statuses.entry(status).or_default() += 1;
                }
                (lat, statuses)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let (lat, st) = t.await.expect("task");
        all.extend(lat);
        for (k, v) in st {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| -> Duration {
        let i = ((all.len() as f64 * p).ceil() as usize).saturating_sub(1);
        all.get(i).copied().unwrap_or_default()
    };
    let ok = statuses.get(&200).copied().unwrap_or(0);
    println!(
        "requests={requests} concurrency={concurrency} seconds={:.2} accepted_per_sec={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} statuses={statuses:?}",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        pct(1.0).as_secs_f64() * 1000.0,
    );
}
