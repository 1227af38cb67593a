//! Prospect uploads through the appliance's HTTP API: the soak's small ones, and
//! `AGENT5_LOAD_IMPORT=ROWS`, one large upload while every call streams (what an
//! operator importing a list does to the live calls).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;

use crate::http;
use crate::measure::{all_streaming, Stats};

/// A CSV of `rows` prospects, as a multipart body (content type, body). `round` picks
/// one of twenty sets of numbers, so repeated uploads update what the first created.
pub(crate) fn upload_body(round: u64, rows: u64) -> (String, Bytes) {
    let boundary = "agent5-load-boundary";
    let mut csv =
        String::from("invoice_contact_name,invoice_company,invoice_phone,invoice_tags\r\n");
    for r in 0..rows {
        csv.push_str(&format!(
            "Load {}-{r},Load NV,+3247{:07},load\r\n",
            round % 20,
            ((round % 20) * rows + r) % 10_000_000
        ));
    }
    let body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"csv\"; filename=\"load.csv\"\r\ncontent-type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    (
        format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
}

/// Uploads `rows` prospects; the number of rows the appliance reports, if it answered.
pub(crate) async fn upload(addr: std::net::SocketAddr, round: u64, rows: u64) -> Option<u64> {
    let (ctype, body) = upload_body(round, rows);
    upload_prepared(addr, ctype, body).await
}

async fn upload_prepared(addr: std::net::SocketAddr, ctype: String, body: Bytes) -> Option<u64> {
    let req = hyper::Request::post("/api/prospects/upload")
        .header("host", "agent5.load")
        .header("authorization", "Bearer load-token-aaaaaaaaaaaa")
        .header("content-type", ctype)
        .body(Full::new(body))
        .ok()?;
    http(addr, req).await.and_then(|r| r["total"].as_u64())
}

/// `AGENT5_LOAD_IMPORT=ROWS`: the rows of the upload made while every call streams.
pub(crate) fn rows_beside() -> Option<u64> {
    std::env::var("AGENT5_LOAD_IMPORT").ok()?.parse().ok()
}

/// Waits until all `calls` stream, then uploads `rows` prospects (the body built
/// before the calls start, so the tool's own CPU in the window is the upload's
/// sending only); nothing if a call ends before all stream. The rows the appliance reports and the seconds the upload took.
pub(crate) async fn import_beside(
    addr: std::net::SocketAddr,
    calls: u64,
    rows: u64,
    stats: Arc<Stats>,
) -> (u64, f64) {
    let (ctype, body) = upload_body(0, rows);
    if !all_streaming(&stats, calls).await {
        return (0, 0.0);
    }
    let t0 = Instant::now();
    let done = upload_prepared(addr, ctype, body).await.unwrap_or(0);
    (done, t0.elapsed().as_secs_f64())
}

/// The output's fields for the upload beside the calls (empty without one).
pub(crate) async fn describe(task: Option<tokio::task::JoinHandle<(u64, f64)>>) -> String {
    match task {
        Some(task) => {
            let (rows, secs) = task.await.unwrap_or((0, 0.0));
            format!(" import_rows={rows} import_secs={secs:.1}")
        }
        None => String::new(),
    }
}
