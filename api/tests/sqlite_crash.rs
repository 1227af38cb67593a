//! Crash recovery of the embedded store: a child process writes in a loop and reports
//! each acknowledged write; the test kills it with SIGKILL mid-loop, reopens the file
//! and finds every acknowledged write.

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use agent5_api::model::{now_millis, Contact, DncEntry, DncSource, NewCustomer};
use agent5_api::store::sqlite::SqliteStore;
use agent5_api::store::{CustomerStore, DncStore};

const CHILD_ENV: &str = "AGENT5_CRASH_CHILD_DB";

fn phone(i: u64) -> String {
    format!("+3247{i:07}")
}

/// The child: runs only when the parent sets the variable (`--ignored` keeps it out of
/// normal runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of acknowledged_writes_survive_sigkill"]
async fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(path.as_ref()).await.expect("open");
    for i in 0.. {
        store
            .add_dnc(vec![DncEntry {
                phone_e164: phone(i),
                reason: "crash test".into(),
                source: DncSource::System,
                added_by: "test".into(),
                added_at: now_millis(),
            }])
            .await
            .expect("dnc");
        let customer = NewCustomer {
            invoice: Contact {
                name: format!("C{i}"),
                phone: Some(format!("+3221{i:07}")),
                ..Contact::default()
            },
            ..NewCustomer::default()
        };
        store
            .upsert_customers(vec![customer])
            .await
            .expect("upsert");
        println!("acked {i}");
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("agent5.db");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--ignored",
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u64 = n.parse().expect("n");
            acked = Some(n);
            if n >= 150 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let last = acked.expect("the child acknowledged writes");

    let store = SqliteStore::open(&db).await.expect("reopen after crash");
    let phones: Vec<String> = (0..=last).map(phone).collect();
    let found = store.dnc_lookup(&phones).await.expect("lookup");
    assert_eq!(
        found.len(),
        phones.len(),
        "every acknowledged DNC entry survived"
    );
    let customers = store.count_customers().await.expect("count");
    assert!(
        customers > last,
        "{customers} customers after {last} acknowledged upserts"
    );
}
