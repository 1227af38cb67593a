//! `systemd/install.sh` into a temporary root (`DESTDIR`): the files, their modes, and
//! that a second run keeps the operator's configuration and secrets.

use std::os::unix::fs::PermissionsExt;

use agent5_e2e::agent5_bin;

fn install(root: &std::path::Path) -> std::process::Output {
    let script = format!("{}/../systemd/install.sh", env!("CARGO_MANIFEST_DIR"));
    std::process::Command::new("bash")
        .arg(script)
        .arg(agent5_bin!())
        .env("DESTDIR", root)
        .output()
        .expect("run install.sh")
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("installed")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn installs_into_destdir_and_is_idempotent() {
    let root = tempfile::tempdir().expect("tmp");
    let out = install(root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = root.path();
    assert_eq!(mode(&r.join("usr/local/bin/agent5")), 0o755);
    assert_eq!(mode(&r.join("etc/agent5")), 0o750);
    assert_eq!(mode(&r.join("etc/agent5/agent5.toml")), 0o640);
    let toml = std::fs::read_to_string(r.join("etc/agent5/agent5.toml")).expect("toml");
    assert!(
        toml.contains("\ndata_dir = \"/var/lib/agent5\"\n"),
        "the installed config names the service's data directory"
    );
    assert!(!r.join("etc/agent5/agent5.toml.new").exists());
    assert_eq!(
        mode(&r.join("etc/agent5/agent5.env")),
        0o600,
        "secrets readable by the owner only"
    );
    let unit = std::fs::read_to_string(r.join("etc/systemd/system/agent5.service")).expect("unit");
    assert!(unit.contains("Type=notify") && unit.contains("ExecStart=/usr/local/bin/agent5 serve"));
    assert!(r.join("etc/tmpfiles.d/agent5.conf").is_file());
    // The installed binary checks the installed configuration.
    let check = std::process::Command::new(r.join("usr/local/bin/agent5"))
        .args(["check-config", "--config"])
        .arg(r.join("etc/agent5/agent5.toml"))
        .output()
        .expect("check-config");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Nothing outside the root: the script says so and never calls useradd/systemctl.
    assert!(String::from_utf8_lossy(&out.stdout).contains("no user, no systemctl"));

    // A second run keeps what the operator changed.
    std::fs::write(
        r.join("etc/agent5/agent5.env"),
        "AUTH_TOKEN=kept-token-aaaaaaaaaa\n",
    )
    .expect("edit");
    std::fs::write(r.join("etc/agent5/agent5.toml"), "# edited\n").expect("edit");
    assert!(install(r).status.success());
    assert_eq!(
        std::fs::read_to_string(r.join("etc/agent5/agent5.env")).expect("env"),
        "AUTH_TOKEN=kept-token-aaaaaaaaaa\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/agent5/agent5.toml")).expect("toml"),
        "# edited\n"
    );
}
