//! Zero-downtime upgrade: `agent5 upgrade` (SIGUSR2) starts a successor that takes
//! the listening sockets over while the old process finishes its WebSocket sessions;
//! requests sent in a loop across the hand-over all succeed, systemd hears the new
//! main pid, and a successor that cannot start leaves the old process serving.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use agent5_e2e::{agent5_bin, Appliance, Spec};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "upgrade-token-aaaaaaaaaa";

fn config() -> String {
    format!(
        "[server]\nlisten = [\"unix:edge.sock\"]\ngrace_period_secs = 30\n[metrics]\nlisten = \"\"\n\
         [dev]\nwebsocket_echo = true\n[auth]\ntokens = [\"{TOKEN}\"]\n"
    )
}

/// Kills the successor (not a child of the test) when the test ends, pass or fail.
struct Successor(Option<i32>);

impl Drop for Successor {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// One request on a fresh connection; `Err` describes what failed.
async fn health(sock: &Path) -> Result<(), String> {
    let mut s = UnixStream::connect(sock)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: agent5.test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if reply.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("reply: {:?}", String::from_utf8_lossy(&reply)))
    }
}

fn upgrade_command(data_dir: &Path) -> std::process::Output {
    Command::new(agent5_bin!())
        .arg("upgrade")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--timeout")
        .arg("60")
        .env_remove("AGENT5_CONFIG")
        .output()
        .expect("run agent5 upgrade")
}

fn notify_messages(socket: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_hands_over_without_dropping_requests_or_sessions() {
    let notify_dir = tempfile::tempdir().expect("tmp");
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    let mut old = Appliance::start(
        Spec::new(agent5_bin!(), config()).env("NOTIFY_SOCKET", &notify_path.to_string_lossy()),
    );
    let sock: PathBuf = old.unix_socket("http");
    let data_dir = old.dir().join("data");

    // A WebSocket session open on the old process across the hand-over.
    let stream = UnixStream::connect(&sock).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("ws://agent5.test/monitor?call=c1&token={TOKEN}"),
        stream,
    )
    .await
    .expect("upgrade");
    ws.send(Message::text("before")).await.expect("send");
    assert_eq!(
        ws.next().await.expect("frame").expect("ok"),
        Message::text("before")
    );

    // Requests in a loop, each on a fresh connection, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let looper = tokio::spawn({
        let (stop, ok, sock) = (Arc::clone(&stop), Arc::clone(&ok), sock.clone());
        async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Acquire) {
                match health(&sock).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.push(e),
                }
            }
            failures
        }
    });

    let out = tokio::task::spawn_blocking(move || upgrade_command(&data_dir))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "agent5 upgrade: {stdout} {}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        old.log_text()
    );
    let ready = old.wait_log(|v| v["message"] == "agent5 ready" && v["upgrade"] == true);
    let new_pid = i32::try_from(ready["pid"].as_u64().expect("pid")).expect("pid");
    let _successor = Successor(Some(new_pid));
    assert_ne!(new_pid, old.pid());
    assert!(
        stdout.contains(&format!("pid {new_pid} serves")),
        "{stdout}"
    );

    // systemd is told the new main process.
    notify.set_nonblocking(true).expect("nonblocking");
    let messages = notify_messages(&notify);
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with(&format!("MAINPID={new_pid}\nREADY=1"))),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("STOPPING=1")),
        "the unit is not stopping: {messages:?}"
    );

    // The old process has stopped accepting once it logs the hand-over's end; the
    // session on it still works.
    old.wait_log(|v| v["signal"] == "SIGUSR2");
    ws.send(Message::text("after")).await.expect("send");
    assert_eq!(
        ws.next().await.expect("frame").expect("ok"),
        Message::text("after")
    );
    ws.close(None).await.expect("close");
    drop(ws);

    let status = old.wait_exit();
    assert!(status.success(), "{status:?}");
    let stopped = old.wait_log(|v| v["message"] == "agent5 stopped" && v["outcome"].is_string());
    assert_eq!(stopped["outcome"], "drained");

    // Keep the loop going a little after the old process is gone: the new one serves.
    let served_before_exit = ok.load(Ordering::Relaxed);
    while ok.load(Ordering::Relaxed) < served_before_exit + 50 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Release);
    let failures = looper.await.expect("loop");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across the hand-over: {:?}",
        failures.len(),
        failures.len() + ok.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)]
    );
    let served = ok.load(Ordering::Relaxed);
    assert!(served > 100, "the loop ran");
    println!("hand-over: {served} requests, 0 failed");
    let pid_file = std::fs::read_to_string(old.dir().join("data/agent5.pid")).expect("pid file");
    assert_eq!(pid_file.trim(), new_pid.to_string());
    health(&sock).await.expect("the successor serves");
}

#[tokio::test]
async fn a_successor_that_cannot_start_leaves_the_old_process_serving() {
    let old = Appliance::start(Spec::new(agent5_bin!(), config()));
    let sock = old.unix_socket("http");
    // The successor reads the same file: make it invalid.
    std::fs::write(old.dir().join("agent5.toml"), "[server]\nlsten = []\n").expect("write");
    let data_dir = old.dir().join("data");
    let out = tokio::task::spawn_blocking(move || upgrade_command(&data_dir))
        .await
        .expect("join");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lsten"), "the reason is reported: {stderr}");
    old.wait_log(|v| v["message"] == "upgrade aborted; this process keeps serving");
    health(&sock).await.expect("the old process serves on");
    let pid_file = std::fs::read_to_string(old.dir().join("data/agent5.pid")).expect("pid file");
    assert_eq!(pid_file.trim(), old.pid().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_started_by_hand_takes_over_on_sigquit() {
    let mut old = Appliance::start(Spec::new(agent5_bin!(), config()));
    let sock = old.unix_socket("http");

    // With nobody waiting for the sockets, SIGQUIT changes nothing.
    old.signal("QUIT");
    old.wait_count(1, is_ignored_quit);
    health(&sock).await.expect("still serving");

    // Pingora's manual form: the new process with --upgrade, then SIGQUIT to the old.
    let (mut new, lines) = successor_by_hand(&old, &[]);
    let _successor = Successor(Some(i32::try_from(new.id()).expect("pid")));
    let until = |what: &str| wait_line(&lines, what);
    until("waiting for the running process's listeners");
    quit_until_handed_over(&old);
    until("agent5 ready");
    let status = old.wait_exit();
    assert!(status.success(), "{status:?}");
    health(&sock).await.expect("the successor serves");
    let _ = new.kill();
    let _ = new.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_failing_after_the_hand_over_makes_the_old_process_fail() {
    let mut old = Appliance::start(Spec::new(agent5_bin!(), config()));
    // The successor inherits edge.sock but cannot bind an extra, busy address.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("busy port");
    let busy = holder.local_addr().expect("addr").to_string();
    let (mut new, lines) =
        successor_by_hand(&old, &["--listen", "unix:edge.sock", "--listen", &busy]);
    let _successor = Successor(Some(i32::try_from(new.id()).expect("pid")));
    wait_line(&lines, "waiting for the running process's listeners");
    quit_until_handed_over(&old);
    let status = new.wait().expect("successor exit");
    assert!(!status.success(), "the successor could not bind {busy}");
    // Nobody took over: the old process exits non-zero so systemd restarts the unit.
    let status = old.wait_exit();
    assert_eq!(status.code(), Some(1), "{status:?}");
    old.wait_log(|v| v["message"] == "the new process never became ready; exiting with failure");
}

/// Starts `agent5 serve --upgrade` on the old process's files, with `extra` flags;
/// returns it and its log lines.
fn successor_by_hand(
    old: &Appliance,
    extra: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut new = Command::new(agent5_bin!())
        .arg("serve")
        .arg("--config")
        .arg(old.dir().join("agent5.toml"))
        .arg("--data-dir")
        .arg(old.dir().join("data"))
        .arg("--upgrade")
        .args(extra)
        .current_dir(old.dir())
        .env_remove("AGENT5_CONFIG")
        .env_remove("AGENT5_DATA_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the successor");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = new.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (new, lines)
}

fn wait_line(lines: &std::sync::mpsc::Receiver<String>, what: &str) {
    loop {
        let line = lines
            .recv_timeout(agent5_e2e::appliance::WAIT)
            .unwrap_or_else(|_| panic!("the successor never logged {what:?}"));
        if line.contains(what) {
            return;
        }
    }
}

fn is_ignored_quit(v: &serde_json::Value) -> bool {
    v["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("SIGQUIT ignored"))
}

/// The successor binds the upgrade socket just after logging that it waits; a
/// SIGQUIT that beats it is ignored (and logged), so send again until the old process
/// starts the hand-over.
fn quit_until_handed_over(old: &Appliance) {
    let before = old.log_json().iter().filter(|v| is_ignored_quit(v)).count();
    for attempt in 1..=50 {
        old.signal("QUIT");
        let seen = old.wait_count(before + attempt, |v| {
            is_ignored_quit(v) || v["signal"] == "SIGQUIT"
        });
        if seen.iter().any(|v| v["signal"] == "SIGQUIT") {
            return;
        }
    }
    panic!("the successor never bound the upgrade socket");
}
