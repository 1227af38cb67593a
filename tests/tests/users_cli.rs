//! `agent5 user add|list|passwd|disable` on the embedded store: the first admin and
//! the way back in, without ever printing a password or its hash.

use std::io::Write;
use std::process::{Command, Stdio};

use agent5_e2e::agent5_bin;

/// Runs `agent5 user <args>` on the data directory `dir`, with `stdin` as input: the
/// exit code, stdout and stderr.
fn user(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(agent5_bin!())
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("MONGO_URI")
        .env_remove("AGENT5_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run agent5 user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PASSWORD: &str = "correct horse battery";

#[test]
fn the_first_admin_is_added_and_listed_without_a_secret() {
    let dir = tempfile::tempdir().expect("tmp");
    let add = [
        "add",
        "Ann@Example.be",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let (code, out, err) = user(dir.path(), &add, &format!("{PASSWORD}\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "added Ann@Example.be (admin)");
    let (code, out, _) = user(dir.path(), &["list"], "");
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "email\trole\tactive\tlast_login",
            "Ann@Example.be\tadmin\tyes\t-"
        ]
    );
    let (code, _, err) = user(dir.path(), &add, &format!("{PASSWORD}\n"));
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");
    let everything = std::fs::read_dir(dir.path()).expect("dir").count();
    assert!(
        everything > 0,
        "the store was created in the data directory"
    );
}

#[test]
fn a_weak_password_or_an_unknown_role_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, _, err) = user(
        dir.path(),
        &[
            "add",
            "bob@example.be",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(code, 1);
    assert!(err.contains("at least 12 characters"), "{err}");
    assert!(
        !err.contains("short\n") && !err.contains(": short"),
        "{err}"
    );
    let (code, _, err) = user(
        dir.path(),
        &[
            "add",
            "bob@example.be",
            "--role",
            "root",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 1);
    assert!(err.contains("role must be one of"), "{err}");
    let (_, out, _) = user(dir.path(), &["list"], "");
    assert_eq!(out.lines().count(), 1, "nobody was added: {out}");
}

#[test]
fn a_password_is_changed_and_a_user_disabled() {
    let dir = tempfile::tempdir().expect("tmp");
    let add = [
        "add",
        "ann@example.be",
        "--role",
        "operator",
        "--password-stdin",
    ];
    assert_eq!(user(dir.path(), &add, &format!("{PASSWORD}\n")).0, 0);
    let (code, out, err) = user(
        dir.path(),
        &["passwd", "ANN@example.be", "--password-stdin"],
        "another long passphrase\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "password changed for ANN@example.be; 0 session(s) ended"
    );
    let (code, _, err) = user(dir.path(), &["disable", "nobody@example.be"], "");
    assert_eq!(code, 1);
    assert!(err.contains("no user with the email"), "{err}");
    assert_eq!(user(dir.path(), &["disable", "ann@example.be"], "").0, 0);
    let (_, out, _) = user(dir.path(), &["list"], "");
    assert!(out.contains("ann@example.be\toperator\tno\t-"), "{out}");
    for secret in [PASSWORD, "another long passphrase", "$argon2id"] {
        assert!(!out.contains(secret), "{out}");
    }
}

#[test]
fn bootstrap_adds_the_first_admin_once_with_a_private_password_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let (code, out, err) = user(dir.path(), &["bootstrap"], "");
    assert_eq!(code, 0, "{err}");
    let file = dir.path().join("admin-password");
    let password = std::fs::read_to_string(&file).expect("password file");
    let password = password.trim();
    assert!(password.len() >= 24, "{password}");
    assert!(
        out.contains("admin@localhost") && out.contains(password),
        "{out}"
    );
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (_, list, _) = user(dir.path(), &["list"], "");
    assert!(list.contains("admin@localhost\tadmin\tyes"), "{list}");
    // Printed once: a second run (users exist) says nothing and changes nothing.
    let (code, again, _) = user(dir.path(), &["bootstrap"], "");
    assert_eq!((code, again.as_str()), (0, ""));
    assert_eq!(
        std::fs::read_to_string(&file).expect("file").trim(),
        password
    );
}
