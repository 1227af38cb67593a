//! Store benchmark (not a test): bulk upsert of generated customers (2 deliveries and
//! 3 custom fields each, in batches as the CSV importer writes them), then filtered
//! prospect-list page queries, at each size given.
//!
//!   cargo run --release -p agent5-api --example store_bench -- sqlite 100000 1000000
//!   cargo run --release -p agent5-api --example store_bench -- mongo 10000   (AGENT5_TEST_MONGO_URI)

#![allow(clippy::expect_used)] // a benchmark tool: a failure ends the run

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent5_api::model::{Contact, Delivery, NewCustomer, ProspectQuery, Scope};
use agent5_api::store::mongo::MongoStore;
use agent5_api::store::sqlite::SqliteStore;
use agent5_api::store::SharedStore;
use serde_json::{json, Map};

const BATCH: usize = 1000;
const QUERIES: usize = 300;
const LANGS: [&str; 4] = ["nl", "fr", "de", "en"];
const TAGS: [&str; 8] = [
    "vip",
    "north",
    "south",
    "east",
    "west",
    "retail",
    "wholesale",
    "gov",
];

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[usize::try_from(self.next() % xs.len() as u64).unwrap_or(0)]
    }
}

fn contact(rng: &mut Rng, name: String, phone: String) -> Contact {
    let mut custom = Map::new();
    custom.insert(
        "account".into(),
        json!(format!("ACC-{}", rng.next() % 1_000_000)),
    );
    custom.insert("region".into(), json!(rng.pick(&TAGS)));
    custom.insert("credit_limit".into(), json!(rng.next() % 50_000));
    Contact {
        email: format!("{}@example.be", name.to_lowercase().replace(' ', ".")),
        company: format!("{name} BV"),
        name,
        phone: Some(phone),
        language: rng.pick(&LANGS).to_owned(),
        language_confirmed: rng.next() % 3 == 0,
        custom,
        ..Contact::default()
    }
}

fn customer(rng: &mut Rng, i: u64) -> NewCustomer {
    let deliveries = (1..=2)
        .map(|d| Delivery {
            code: format!("delivery_{d}"),
            contact: contact(rng, format!("Site {i} {d}"), format!("+324{d}{i:07}")),
            tags: vec![rng.pick(&TAGS).to_owned()],
            notes: String::new(),
        })
        .collect();
    NewCustomer {
        invoice: contact(rng, format!("Customer {i}"), format!("+322{i:07}")),
        deliveries,
        tags: vec![rng.pick(&TAGS).to_owned(), rng.pick(&TAGS).to_owned()],
        custom: Map::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map_or("sqlite", String::as_str).to_owned();
    let sizes: Vec<u64> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    };
    let dir = tempfile::tempdir().expect("tmp");
    let store: SharedStore = match backend.as_str() {
        "sqlite" => {
            // AGENT5_BENCH_DB keeps the database for inspection (EXPLAIN QUERY PLAN).
            let path = std::env::var("AGENT5_BENCH_DB")
                .map_or_else(|_| dir.path().join("bench.db"), std::path::PathBuf::from);
            Arc::new(SqliteStore::open(&path).await.expect("open"))
        }
        "mongo" => {
            let uri = std::env::var("AGENT5_TEST_MONGO_URI").expect("AGENT5_TEST_MONGO_URI");
            let db = format!("bench_{}", std::process::id());
            Arc::new(
                MongoStore::connect_database(&uri, Some(&db))
                    .await
                    .expect("connect"),
            )
        }
        other => panic!("backend {other}: sqlite or mongo"),
    };
    println!("backend {backend}, batches of {BATCH}, {QUERIES} queries per size");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut have = 0u64;
    for size in sizes {
        let started = Instant::now();
        let before = have;
        // As the CSV importer does: the next batch is prepared while the store writes
        // the previous one.
        let mut in_flight: Option<tokio::task::JoinHandle<Duration>> = None;
        let mut store_time = Duration::ZERO;
        while have < size {
            let n = (size - have).min(BATCH as u64);
            let batch: Vec<NewCustomer> = (have..have + n).map(|i| customer(&mut rng, i)).collect();
            have += n;
            if let Some(prev) = in_flight.take() {
                store_time += prev.await.expect("join");
            }
            let store = Arc::clone(&store);
            in_flight = Some(tokio::spawn(async move {
                let t = Instant::now();
                store.upsert_customers(batch).await.expect("upsert");
                t.elapsed()
            }));
        }
        if let Some(prev) = in_flight.take() {
            store_time += prev.await.expect("join");
        }
        let secs = started.elapsed().as_secs_f64();
        let added = have - before;
        println!(
            "{size:>8} customers: upserted {added} in {secs:.1} s = {:.0} customers/s ({:.0}/s of store time)",
            added as f64 / secs,
            added as f64 / store_time.as_secs_f64()
        );
        let mut lat = Vec::with_capacity(QUERIES);
        let mut rows = 0usize;
        for q in 0..QUERIES {
            let query = ProspectQuery {
                scope: if q % 3 == 0 {
                    Scope::Both
                } else {
                    Scope::Invoice
                },
                tags: vec![rng.pick(&TAGS).to_owned()],
                language: Some(rng.pick(&LANGS).to_owned()),
                opt_out: Some(false),
                offset: (rng.next() % 10) * 50,
                limit: 50,
                ..ProspectQuery::default()
            };
            let t = Instant::now();
            let page = store.list_prospects(&query).await.expect("list");
            lat.push(t.elapsed());
            rows += page.items.len();
        }
        lat.sort();
        println!(
            "{size:>8} customers: filtered page query (tag + lang + opt_out, 50 rows, pages 1-10) p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {:.0} rows/query",
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.95).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            rows as f64 / QUERIES as f64
        );
    }
}
