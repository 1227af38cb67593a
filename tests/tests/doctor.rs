//! `agent5 doctor`: the table an operator reads, and its exit code.

use agent5_e2e::agent5_bin;
use agent5_e2e::certs::TestCa;

fn doctor(dir: &std::path::Path, config: &str) -> (i32, String) {
    let path = dir.join("agent5.toml");
    std::fs::write(&path, config).expect("config");
    let out = std::process::Command::new(agent5_bin!())
        .args(["doctor", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("AUTH_TOKEN")
        .env_remove("MONGO_URI")
        .output()
        .expect("run doctor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default()
}

#[test]
fn a_healthy_box_passes_and_a_broken_one_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let leaf = ca.leaf(dir.path(), "site", &["agent5.example.com"]);
    let good = format!(
        "[auth]\ntokens = [\"doctor-token-aaaaaaaaaa\"]\n[tls]\nlisten = [\"127.0.0.1:0\"]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n",
        leaf.cert.display(),
        leaf.key.display()
    );
    let (code, table) = doctor(dir.path(), &good);
    assert_eq!(code, 0, "{table}");
    assert_eq!(row(&table, "store")[1], "ok", "{table}");
    assert_eq!(
        row(&table, "cluster")[1..],
        [
            "ok",
            "no",
            "appliance",
            "is",
            "running",
            "on",
            "this",
            "store"
        ],
        "{table}"
    );
    let cert = row(&table, "certificate");
    assert_eq!(cert[2], "ok", "{table}");
    assert!(table.contains("agent5.example.com: valid for"), "{table}");
    assert_eq!(row(&table, "data directory")[2], "ok");
    assert_eq!(
        row(&table, "telnyx")[1],
        "warn",
        "missing integrations are warnings"
    );

    let (code, table) = doctor(dir.path(), "[telnyx]\nverify_signatures = false\n");
    assert_eq!(code, 1, "{table}");
    assert_eq!(row(&table, "accounts")[1], "FAIL", "nobody can sign in");
    assert_eq!(row(&table, "webhook signatures")[2], "FAIL");

    let (code, table) = doctor(dir.path(), "[server]\nlisten = []\n");
    assert_eq!(code, 1);
    assert!(table.starts_with("config  FAIL"), "{table}");
}
