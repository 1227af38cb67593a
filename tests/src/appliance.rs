//! A running appliance process and its captured JSON log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on any wait for the process (start-up, a log line, exit).
pub const WAIT: Duration = Duration::from_secs(60);

/// Environment variables from the host that must not leak into a test appliance.
const SCRUB: &[&str] = &[
    "AUTH_TOKEN",
    "MONGO_URI",
    "OPENAI_API_KEY",
    "TELNYX_API_KEY",
    "TELNYX_CONNECTION_ID",
    "TELNYX_PHONE_NUMBER",
    "TELNYX_PUBLIC_KEY_PEM",
    "TELNYX_STREAM_URL",
    "LIVEKIT_SERVER_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "CORS_ORIGIN",
    "TRUST_PROXY",
    "PROTECT_RECORDINGS",
    "PORT",
    "AGENT5_DATA_DIR",
    "AGENT5_CONFIG",
    "RUST_LOG",
];

/// How to start an appliance.
#[derive(Debug, Default, Clone)]
pub struct Spec {
    /// The `agent5` executable (integration tests pass `agent5_bin!()`).
    pub binary: PathBuf,
    /// Config file contents. Listeners should use port 0.
    pub config: String,
    pub env: Vec<(String, String)>,
    /// Files to write into the temp dir before start (relative path, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// Start with command-line flags only: no config file at all.
    pub no_config_file: bool,
    /// Extra command-line arguments after `serve`.
    pub args: Vec<String>,
}

impl Spec {
    pub fn new(binary: &str, config: impl Into<String>) -> Self {
        Self {
            binary: PathBuf::from(binary),
            config: config.into(),
            ..Self::default()
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_owned(), contents.into()));
        self
    }
}

pub struct Appliance {
    child: Child,
    dir: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    /// Bound addresses by role (`http`, `https`, `redirect`, `metrics`).
    pub listeners: HashMap<String, Vec<String>>,
}

/// The path of the `agent5` executable Cargo built for this test crate.
#[macro_export]
macro_rules! agent5_bin {
    () => {
        env!("CARGO_BIN_EXE_agent5-under-test")
    };
}

impl Appliance {
    pub fn start(spec: Spec) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, contents) in &spec.files {
            let p = dir.path().join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(p, contents).expect("write fixture");
        }
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("serve");
        if !spec.no_config_file {
            let config = dir.path().join("agent5.toml");
            std::fs::write(&config, &spec.config).expect("write config");
            cmd.arg("--config").arg(&config);
        }
        cmd.args(&spec.args)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for k in SCRUB {
            cmd.env_remove(k);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn agent5");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("log lock").push(line.clone());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut app = Self {
            child,
            dir,
            lines: rx,
            log,
            listeners: HashMap::new(),
        };
        app.await_ready();
        app
    }

    fn await_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "agent5 did not become ready (exit: {status:?}); log:\n{}",
                        self.log_text()
                    );
                }
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match v["message"].as_str() {
                Some("listening") => {
                    let role = v["role"].as_str().unwrap_or_default().to_owned();
                    let addr = v["addr"].as_str().unwrap_or_default().to_owned();
                    self.listeners.entry(role).or_default().push(addr);
                }
                Some("agent5 ready") => return,
                _ => {}
            }
        }
    }

    pub fn addr(&self, role: &str) -> SocketAddr {
        self.listeners
            .get(role)
            .and_then(|v| v.iter().find_map(|a| a.parse().ok()))
            .unwrap_or_else(|| panic!("no {role} TCP listener: {:?}", self.listeners))
    }

    pub fn unix_socket(&self, role: &str) -> PathBuf {
        self.listeners
            .get(role)
            .and_then(|v| v.iter().find_map(|a| a.strip_prefix("unix:")))
            .map(|p| self.dir.path().join(p))
            .unwrap_or_else(|| panic!("no {role} unix listener: {:?}", self.listeners))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    /// Waits for a JSON log line matching `pred` (lines already seen included).
    pub fn wait_log(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = self.log_json().into_iter().find(|v| pred(v)) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.lines.recv_timeout(left).is_err() {
                panic!("log line not seen; log:\n{}", self.log_text());
            }
        }
    }

    /// Waits until `n` JSON log lines match `pred`; returns them.
    pub fn wait_count(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen: Vec<Value> = self.log_json().into_iter().filter(|v| pred(v)).collect();
            if seen.len() >= n {
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.lines.recv_timeout(left).is_err() {
                panic!("{n} matching log lines not seen; log:\n{}", self.log_text());
            }
        }
    }

    pub fn log_json(&self) -> Vec<Value> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit (bounded), draining its log meanwhile.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "agent5 did not exit; log:\n{}",
                self.log_text()
            );
            // Each log line (or the pipe closing at exit) wakes us up.
            if let Err(mpsc::RecvTimeoutError::Disconnected) = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                return self.child.wait().expect("wait");
            }
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
