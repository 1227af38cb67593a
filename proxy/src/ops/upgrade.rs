//! Zero-downtime upgrade: a successor process takes over the listening sockets while
//! this one drains.
//!
//! The hand-over is Pingora's: the successor runs with `--upgrade`, listens on the
//! upgrade socket (`<data_dir>/agent5-upgrade.sock`), and the running process sends
//! its listen-fd table there (SCM_RIGHTS) when it gets SIGQUIT, keeps accepting for
//! five more seconds, then stops accepting and drains. Both processes accept from the
//! same kernel queues meanwhile, so no connection is refused.
//!
//! SIGUSR2 (what `agent5 upgrade` sends) does the whole dance from inside the service:
//! the running process starts its own successor (same executable path, same
//! arguments, plus `--upgrade`), so under systemd it stays in the unit's cgroup; it
//! hands over only once the successor has got as far as waiting for the sockets, so a
//! successor that cannot start (bad config, broken binary) leaves the running process
//! serving. The successor tells systemd it is the new main process (`MAINPID=`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The flag the successor is started with.
pub const FLAG: &str = "--upgrade";

/// How long a successor may take to reach the hand-over point.
const SUCCESSOR_START: Duration = Duration::from_secs(60);

/// The upgrade socket for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("agent5-upgrade.sock")
}

/// The pid file: written when the process is ready, so it names the process serving.
pub fn pid_file(data_dir: &Path) -> PathBuf {
    data_dir.join("agent5.pid")
}

/// Waits (Pingora's bounded retries, about five seconds) for the running process to
/// send its listening sockets, and returns them by address key.
pub fn receive_listeners(sock: &Path) -> io::Result<HashMap<String, OwnedFd>> {
    let path = sock
        .to_str()
        .ok_or_else(|| io::Error::other("the upgrade socket path is not UTF-8"))?;
    let mut fds = pingora::server::Fds::new();
    fds.get_from_sock(path)
        .map_err(|e| io::Error::other(format!("no sockets received on {path}: {e}")))?;
    // Done with it: a socket file left behind would look like a waiting successor.
    let _ = std::fs::remove_file(sock);
    let (keys, raw) = fds.serialize();
    Ok(keys
        .into_iter()
        .zip(raw)
        .map(|(k, fd)| (k, own(fd)))
        .collect())
}

/// Takes ownership of a descriptor just received over SCM_RIGHTS.
#[allow(unsafe_code)]
fn own(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: `fd` was received by `Fds::get_from_sock` a moment ago and nothing else
    // in this process holds it; it gets exactly one owner here.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Why a successor did not take over.
#[derive(Debug, thiserror::Error)]
pub enum SuccessorError {
    #[error("cannot start {exe}: {source}")]
    Spawn { exe: String, source: io::Error },
    #[error("the new process exited before taking over ({0})")]
    Exited(std::process::ExitStatus),
    #[error("the new process did not reach the hand-over within {0:?}")]
    Timeout(Duration),
}

/// Starts this program again with `--upgrade` and waits until it listens on the
/// upgrade socket. The child inherits stdout/stderr (one log stream) and the systemd
/// environment minus `WATCHDOG_PID`, so it can become the unit's main process.
pub fn spawn_successor(sock: &Path) -> Result<Child, SuccessorError> {
    if let Some(dir) = sock.parent() {
        let _ = std::fs::remove_file(failure_file(dir));
    }
    let result = start_successor(sock);
    if let (Err(e), Some(dir)) = (&result, sock.parent()) {
        // The successor may have written why it stopped; keep that, add ours.
        let theirs = std::fs::read_to_string(failure_file(dir)).unwrap_or_default();
        let _ = std::fs::write(failure_file(dir), format!("{e}: {}\n", theirs.trim()));
    }
    result
}

fn start_successor(sock: &Path) -> Result<Child, SuccessorError> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let exe = if args.is_empty() {
        OsString::from("agent5")
    } else {
        args.remove(0)
    };
    if !args.iter().any(|a| a == FLAG) {
        args.push(FLAG.into());
    }
    // A stale socket from an earlier upgrade would look like a ready successor.
    let _ = std::fs::remove_file(sock);
    let mut child = Command::new(&exe)
        .args(&args)
        .env_remove("WATCHDOG_PID")
        .env("AGENT5_UPGRADE_FROM", std::process::id().to_string())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|source| SuccessorError::Spawn {
            exe: exe.to_string_lossy().into_owned(),
            source,
        })?;
    let deadline = Instant::now() + SUCCESSOR_START;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(SuccessorError::Exited(status));
        }
        if std::fs::metadata(sock).is_ok_and(|m| m.file_type().is_socket()) {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SuccessorError::Timeout(SUCCESSOR_START));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where a process that could not start its successor says why (for `agent5 upgrade`).
pub fn failure_file(data_dir: &Path) -> PathBuf {
    data_dir.join("agent5-upgrade.failed")
}

/// A successor that cannot start leaves its reason for the process that started it.
pub fn report_failure(data_dir: &Path, why: &str) {
    let _ = std::fs::write(failure_file(data_dir), format!("{why}\n"));
}

/// Writes the pid file atomically (ready processes only).
pub fn write_pid_file(path: &Path) -> io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}

/// Removes the pid file if it still names this process (a successor's stays).
pub fn remove_pid_file(path: &Path) {
    if read_pid(path).ok() == Some(std::process::id()) {
        let _ = std::fs::remove_file(path);
    }
}

pub fn read_pid(path: &Path) -> io::Result<u32> {
    std::fs::read_to_string(path)?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a pid"))
}

/// Why `agent5 upgrade` did not hand over (the old process, if any, keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("{path}: {source}")]
    PidFile { path: String, source: io::Error },
    #[error("pid {0} out of range")]
    PidRange(u32),
    #[error("cannot signal pid {pid}: {reason}")]
    Signal { pid: u32, reason: String },
    #[error("{why}; pid {old} keeps serving")]
    Refused { why: String, old: u32 },
    #[error("pid {0} exited and no new process took over")]
    Exited(u32),
    #[error("no new process took over within {timeout:?}; pid {old} keeps serving (see its log)")]
    Timeout { timeout: Duration, old: u32 },
}

/// `agent5 upgrade`: signals the serving process (from the pid file) to start its
/// successor, and waits until a new process has written the pid file.
pub fn request(data_dir: &Path, timeout: Duration) -> Result<(u32, u32), UpgradeError> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let path = pid_file(data_dir);
    let failed = failure_file(data_dir);
    let old = read_pid(&path).map_err(|source| UpgradeError::PidFile {
        path: path.display().to_string(),
        source,
    })?;
    let pid = Pid::from_raw(i32::try_from(old).map_err(|_| UpgradeError::PidRange(old))?);
    let _ = std::fs::remove_file(&failed);
    kill(pid, Signal::SIGUSR2).map_err(|e| UpgradeError::Signal {
        pid: old,
        reason: e.to_string(),
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Ok(new) = read_pid(&path) {
            if new != old {
                return Ok((old, new));
            }
        }
        if let Ok(why) = std::fs::read_to_string(&failed) {
            return Err(UpgradeError::Refused {
                why: why.trim().to_owned(),
                old,
            });
        }
        if kill(pid, None).is_err() {
            // The old process is gone and no successor wrote the pid file.
            if read_pid(&path).ok() == Some(old) {
                return Err(UpgradeError::Exited(old));
            }
        }
        if Instant::now() >= deadline {
            return Err(UpgradeError::Timeout { timeout, old });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_is_removed_only_by_its_owner() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = pid_file(dir.path());
        write_pid_file(&path).expect("write");
        assert_eq!(read_pid(&path).expect("read"), std::process::id());
        std::fs::write(&path, "1\n").expect("overwrite");
        remove_pid_file(&path);
        assert!(path.exists(), "a successor's pid file stays");
        write_pid_file(&path).expect("write");
        remove_pid_file(&path);
        assert!(!path.exists());
    }

    #[test]
    fn sockets_round_trip_through_the_upgrade_socket() {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = socket_path(dir.path());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let receiver = std::thread::spawn({
            let sock = sock.clone();
            move || receive_listeners(&sock)
        });
        let mut table = pingora::server::Fds::new();
        table.add(addr.to_string(), std::os::fd::AsRawFd::as_raw_fd(&listener));
        let path = sock.to_str().expect("utf-8").to_owned();
        table.send_to_sock(path.as_str()).expect("send");
        let got = receiver.join().expect("thread").expect("received");
        let fd = got.get(&addr.to_string()).expect("key kept");
        let taken = std::net::TcpListener::from(fd.try_clone().expect("dup"));
        assert_eq!(taken.local_addr().expect("addr"), addr, "the same socket");
        drop(listener);
        let _client = std::net::TcpStream::connect(addr).expect("still listening");
        taken.accept().expect("the successor accepts");
    }
}
