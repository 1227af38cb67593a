//! systemd `Type=notify` as the unit uses it: READY=1 once serving, watchdog pings at
//! half `WATCHDOG_USEC`, STOPPING=1 on SIGTERM, all seen through a `NOTIFY_SOCKET` the
//! test owns.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use agent5_e2e::{agent5_bin, Appliance, Spec};

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_watchdog_and_stopping_reach_systemd() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut app = Appliance::start(
        Spec::new(
            agent5_bin!(),
            "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n",
        )
        .env("NOTIFY_SOCKET", path.to_str().expect("utf8"))
        .env("WATCHDOG_USEC", "400000"),
    );
    let ready = next(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains("STATUS=serving"), "{ready:?}");
    assert_eq!(next(&socket), "WATCHDOG=1");
    assert_eq!(next(&socket), "WATCHDOG=1", "pings keep coming");
    app.signal("TERM");
    let mut seen = Vec::new();
    loop {
        let m = next(&socket);
        if m == "STOPPING=1" {
            break;
        }
        seen.push(m);
        assert!(seen.len() < 50, "no STOPPING=1: {seen:?}");
    }
    assert!(app.wait_exit().success());
}
