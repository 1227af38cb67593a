//! CSV upload through the edge: multipart streaming into the importer, the report,
//! dry runs, and the limits (413 body_too_large, 413 too_many_rows).

use agent5_e2e::client::{self, body, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use http::Request;

const TOKEN: &str = "upload-token-aaaaaaaaa";
const BOUNDARY: &str = "agent5-test-boundary";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../api/tests/fixtures/csv/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn multipart(field: &str, file: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"upload.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn upload(app: &Appliance, query: &str, payload: Vec<u8>) -> client::Reply {
    let req = Request::post(format!("/api/prospects/upload{query}"))
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body(payload))
        .expect("req");
    client::send(client::unix(&app.unix_socket("http")).await, req).await
}

/// Uploads the sample file (three rows, two opt-outs); its report, once accepted.
async fn upload_sample(app: &Appliance) -> serde_json::Value {
    let r = upload(
        app,
        "",
        multipart("csv", &fixture("excel_semicolon_bom_crlf.csv")),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()
}

fn start() -> Appliance {
    Appliance::start(Spec::new(
        agent5_bin!(),
        format!(
            "[server]\nlisten = [\"unix:a.sock\"]\n[metrics]\nlisten = \"\"\n[auth]\ntokens = [\"{TOKEN}\"]\n[limits]\nupload_body_bytes = 4096\nupload_max_rows = 4\n"
        ),
    ))
}

#[tokio::test]
async fn upload_import_report_and_limits() {
    let app = start();
    let report = upload_sample(&app).await;
    assert_eq!(report["imported"], 3);
    assert_eq!(report["created"], 3);
    assert_eq!(report["encoding"], "utf-8 (bom)");
    assert_eq!(report["delimiter"], ";");
    assert_eq!(report["dnc_added"], 2);
    let list = client::send(
        client::unix(&app.unix_socket("http")).await,
        get("/api/prospects")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(empty())
            .expect("req"),
    )
    .await;
    assert_eq!(list.json()["items"].as_array().expect("items").len(), 3);

    // A dry run reports the failures and writes nothing.
    let r = upload(
        &app,
        "?dry_run=1",
        multipart("csv", &fixture("bad_phones.csv")),
    )
    .await;
    assert_eq!(r.status, 200);
    let report = r.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["failed"], 3);
    assert_eq!(report["failed_items"][0]["row"], 3);
    assert_eq!(report["failed_items"][0]["error_code"], "INVALID_PHONE");

    let r = upload(&app, "", multipart("csv", &fixture("unknown_columns.csv"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "unknown_columns");
    assert_eq!(r.json()["error"]["field"], "csv");
    let r = upload(
        &app,
        "?ignore_unknown=1",
        multipart("csv", &fixture("unknown_columns.csv")),
    )
    .await;
    assert_eq!(r.status, 200);

    let r = upload(
        &app,
        "",
        multipart("file", b"invoice_phone\n02 511 12 34\n"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "missing_file");

    let mut many = b"invoice_contact_name,invoice_phone\n".to_vec();
    for n in [
        "02 511 12 34",
        "03 231 12 34",
        "09 223 45 67",
        "02 227 21 11",
        "0475 12 34 56",
    ] {
        many.extend_from_slice(format!("X,{n}\n").as_bytes());
    }
    let r = upload(&app, "", multipart("csv", &many)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "too_many_rows");

    let r = upload(&app, "", multipart("csv", &vec![b'a'; 8192])).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "body_too_large");

    let plain = Request::post("/api/prospects/upload")
        .header("host", "agent5.test")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "text/csv")
        .body(body("invoice_phone\n"))
        .expect("req");
    let r = client::send(client::unix(&app.unix_socket("http")).await, plain).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_upload");
}

/// A task's name and `nice` from its `stat` file (the name in parentheses, then
/// fields 3.., of which `nice` is the 19th).
fn name_and_nice(stat_path: &std::path::Path) -> (String, i32) {
    let stat = std::fs::read_to_string(stat_path).expect("stat");
    let open = stat.find('(').expect("(");
    let close = stat.rfind(')').expect(")");
    let nice = stat[close + 2..]
        .split(' ')
        .nth(16)
        .and_then(|f| f.parse().ok())
        .expect("nice field");
    (stat[open + 1..close].to_owned(), nice)
}

/// Every thread of `pid`: its name and its `nice`.
fn threads_nice(pid: i32) -> Vec<(String, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir");
    tasks
        .flatten()
        .map(|t| name_and_nice(&t.path().join("stat")))
        .collect()
}

/// The store's and the importer's work runs on blocking threads lowered to
/// `background_nice`; the edge's threads (and the process's own) keep the priority the
/// service started with, so under a full CPU the calls' audio goes first.
#[tokio::test]
async fn store_and_import_run_below_the_edge_priority() {
    let app = start();
    upload_sample(&app).await;
    let threads = threads_nice(app.pid());
    let base = name_and_nice(std::path::Path::new(&format!("/proc/{}/stat", app.pid()))).1;
    assert!(
        threads.iter().any(|(_, n)| *n == base.max(10)),
        "no thread at the background priority: {threads:?}"
    );
    for (name, nice) in &threads {
        assert!(
            *nice == base || *nice == base.max(10),
            "{name} at {nice}: {threads:?}"
        );
    }
    // The threads that carry connections and calls, and the log's and the recordings'
    // writers, are not.
    let edge: Vec<_> = threads
        .iter()
        .filter(|(name, _)| {
            ["agent5 edge", "agent5-log", "agent5-recordin"].contains(&name.as_str())
        })
        .collect();
    assert!(edge.len() >= 3, "{threads:?}");
    assert!(edge.iter().all(|(_, n)| *n == base), "{threads:?}");
}

fn cli_import(data: &std::path::Path, file: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let path = format!(
        "{}/../api/tests/fixtures/csv/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    cli_import_kind("prospects", data, std::path::Path::new(&path), extra)
}

fn cli_import_kind(
    kind: &str,
    data: &std::path::Path,
    path: &std::path::Path,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let report = data.join(format!("{name}.report.json"));
    let out = std::process::Command::new(agent5_bin!())
        .args(["import", kind])
        .arg(path)
        .arg("--data-dir")
        .arg(data)
        .arg("--report")
        .arg(&report)
        .args(extra)
        .env_remove("MONGO_URI")
        .env_remove("AGENT5_CONFIG")
        .output()
        .expect("run agent5 import");
    let code = out.status.code().unwrap_or(-1);
    let json = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    (code, json)
}

#[test]
fn cli_import_uses_the_same_importer() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (code, report) = cli_import(&data, "excel_semicolon_bom_crlf.csv", &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["created"], 3);
    assert!(
        data.join("agent5.db").is_file(),
        "the embedded store under --data-dir"
    );
    let (code, report) = cli_import(&data, "excel_semicolon_bom_crlf.csv", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["unchanged"], 3, "idempotent");
    let (code, report) = cli_import(&data, "bad_phones.csv", &["--dry-run"]);
    assert_eq!(code, 1, "rows failed");
    assert_eq!(report["failed"], 3);
    assert_eq!(report["dry_run"], true);
    let (code, report) = cli_import(&data, "unknown_columns.csv", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        report,
        serde_json::Value::Null,
        "no report when the file is refused"
    );
}

#[test]
fn cli_import_deliveries() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let parents = dir.path().join("parents.csv");
    std::fs::write(
        &parents,
        "invoice_contact_name,invoice_email,invoice_phone,invoice_mobile_nr\r\n\
         Acme,orders@acme.be,02 511 12 34,\r\n\
         Bolt,shared@group.be,,0476 11 22 33\r\n\
         Cargo,shared@group.be,03 222 33 44,\r\n",
    )
    .expect("write");
    let (code, report) = cli_import_kind("prospects", &data, &parents, &[]);
    assert_eq!((code, report["created"].as_u64()), (0, Some(3)), "{report}");
    let deliveries = format!(
        "{}/../api/tests/fixtures/csv/deliveries_excel_semicolon.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let deliveries = std::path::Path::new(&deliveries);
    let (code, report) = cli_import_kind("deliveries", &data, deliveries, &[]);
    assert_eq!(code, 1, "some rows fail: {report}");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["unchanged"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(4), Some(1), Some(4)),
        "{report}"
    );
    let (_, again) = cli_import_kind("deliveries", &data, deliveries, &[]);
    assert_eq!(
        (again["created"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(5))
    );
}
