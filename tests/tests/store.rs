//! The store as the appliance sees it: the embedded default, and MongoDB going away
//! and coming back under a running appliance (a real SecantusDB process that the test
//! stops and restarts on the same port).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent5_e2e::client::{self, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};

const TOKEN: &str = "store-token-aaaaaaaaaa";

fn config() -> String {
    format!("[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n")
}

async fn call(app: &Appliance, path: &str) -> client::Reply {
    client::send(
        client::unix(&app.unix_socket("http")).await,
        get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await
}

/// The value of `agent5_store_up` on /metrics.
async fn store_up(app: &Appliance) -> String {
    let text = String::from_utf8_lossy(&call(app, "/metrics").await.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("agent5_store_up "))
        .unwrap_or("missing")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn embedded_store_by_default() {
    let app = Appliance::start(Spec::new(agent5_bin!(), config()));
    let ready = call(&app, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["store"], "sqlite");
    assert_eq!(ready.json()["checks"]["store"], "ok");
    assert!(app.dir().join("data/agent5.db").is_file());
    let audit = call(&app, "/api/audit").await;
    assert_eq!(audit.status, 200);
    assert_eq!(audit.json()["items"], serde_json::json!([]));
}

/// A SecantusDB server; its port comes from its own start-up line.
struct Secantus {
    child: Child,
    port: u16,
}

impl Secantus {
    fn start(bin: &str, port: u16) -> Self {
        let mut child = Command::new(bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
                ":memory:",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start secantus");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        // Owned from here on: a panic below still kills and reaps the server.
        let mut server = Self { child, port: 0 };
        let (Some(stderr), Some(stdout)) = (stderr, stdout) else {
            panic!("secantus pipes missing");
        };
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(stderr) as Box<dyn std::io::Read + Send>,
            Box::new(stdout),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("secantus did not report its port");
            if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                server.port = rest.trim().parse().expect("port");
                return server;
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn mongo_outage_is_reported_and_recovers() {
    let Ok(bin) = std::env::var("AGENT5_SECANTUS_BIN") else {
        assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_SECANTUS_BIN unset"
        );
        eprintln!("AGENT5_SECANTUS_BIN unset: skipping (make test sets it)");
        return;
    };
    let mut db = Secantus::start(&bin, 0);
    let uri = format!("mongodb://agent5:sekrit-password@127.0.0.1:{}/agent5?directConnection=true&authSource=admin", db.port);
    let uri_no_auth = format!(
        "mongodb://127.0.0.1:{}/agent5?directConnection=true",
        db.port
    );
    let app = Appliance::start(Spec::new(agent5_bin!(), config()).env("MONGO_URI", &uri_no_auth));
    let ready = call(&app, "/readyz").await;
    assert_eq!(ready.status, 200, "{:?}", ready.json());
    assert_eq!(ready.json()["store"], "mongo");
    assert_eq!(call(&app, "/api/audit").await.status, 200);

    db.kill();
    let started = Instant::now();
    let down = call(&app, "/api/audit").await;
    let took = started.elapsed();
    assert_eq!(down.status, 503);
    assert_eq!(down.json()["error"]["code"], "store_unavailable");
    assert!(
        took < Duration::from_secs(10),
        "answered in {took:?}: bounded by server selection"
    );
    let not_ready = call(&app, "/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.json()["failing"], serde_json::json!(["store"]));
    assert_eq!(store_up(&app).await, "0", "the alerting gauge follows");

    let port = db.port;
    let _db = Secantus::start(&bin, port);
    // Each probe waits at most the store check's timeout; the driver reconnects by itself.
    let mut recovered = false;
    for _ in 0..30 {
        if call(&app, "/readyz").await.status == 200 {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "the appliance did not recover after MongoDB came back"
    );
    assert_eq!(store_up(&app).await, "1");
    assert_eq!(call(&app, "/api/audit").await.status, 200);
    // The URI's password never reaches the log (checked with a URI that has one).
    drop(app);
    let with_password = Appliance::start(Spec::new(agent5_bin!(), config()).env("MONGO_URI", &uri));
    with_password.wait_log(|v| v["message"] == "store configured");
    assert!(!with_password.log_text().contains("sekrit-password"));
}
