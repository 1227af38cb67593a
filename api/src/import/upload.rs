//! `POST /api/prospects/upload` and `/upload_deliveries` (multipart field `csv`): the upload streams from the
//! request into the importer through a bounded channel, so a 50 MiB file never sits in
//! memory. `?dry_run=1` validates and reports without writing; `?ignore_unknown=1`
//! skips unknown columns instead of refusing the file.

use std::collections::HashMap;
use std::io::Read;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::http::{flag, Actor, ApiError};
use crate::import::dnc::{import_dnc, DncReport};
use crate::import::{import_deliveries, import_prospects, ImportError, Options, Report, Target};
use crate::AppState;

/// A `Read` over chunks arriving on a channel (used on the importer's blocking thread).
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        let code = e.code();
        match e {
            ImportError::Store(s) => s.into(),
            ImportError::TooManyRows { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, e.to_string())
            }
            other => {
                ApiError::new(StatusCode::BAD_REQUEST, code, other.to_string()).with_field("csv")
            }
        }
    }
}

fn options(
    state: &AppState,
    params: &HashMap<String, String>,
    actor: &Actor,
) -> Result<Options, ApiError> {
    Ok(Options {
        dry_run: flag(params, "dry_run")?.unwrap_or(false),
        ignore_unknown: flag(params, "ignore_unknown")?.unwrap_or(false),
        max_rows: state.import_max_rows,
        region: state.region,
        actor: actor.label().to_owned(),
        target: Target::default(),
    })
}

/// `POST /api/prospects/upload`
pub async fn prospects(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
    actor: Actor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Report>, ApiError> {
    upload(&state, &params, &actor, multipart, Target::Prospects).await
}

/// `POST /api/prospects/upload_deliveries`
pub async fn deliveries(
    State(state): State<AppState>,
    crate::http::Params(params): crate::http::Params,
    actor: Actor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Report>, ApiError> {
    upload(&state, &params, &actor, multipart, Target::Deliveries).await
}

/// The upload's `csv` field imported as `target`.
async fn upload(
    state: &AppState,
    params: &HashMap<String, String>,
    actor: &Actor,
    multipart: Result<Multipart, MultipartRejection>,
    target: Target,
) -> Result<Json<Report>, ApiError> {
    let multipart = multipart_or_400(multipart)?;
    let options = options(state, params, actor)?;
    let store = state.store.clone();
    let report = with_csv_field(multipart, move |reader| async move {
        match target {
            Target::Prospects => import_prospects(store, reader, options, |_| {}).await,
            Target::Deliveries => import_deliveries(store, reader, options, |_| {}).await,
        }
    })
    .await?;
    if !report.dry_run {
        let action = match target {
            Target::Prospects => "import.prospects",
            Target::Deliveries => "import.deliveries",
        };
        let detail = serde_json::json!({
            "total": report.total, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "failed": report.failures.failed,
            "dnc_added": report.dnc_added,
        });
        state
            .store
            .append_audit(actor.entry(action, "prospects", detail.to_string()))
            .await?;
    }
    Ok(Json(report))
}

/// Finds the `csv` field and streams it into `import` (run concurrently), so the file
/// is never held in memory. The importer stopping early stops the reading.
async fn with_csv_field<T, F, Fut>(mut multipart: Multipart, import: F) -> Result<T, ApiError>
where
    F: FnOnce(ChannelReader) -> Fut,
    Fut: std::future::Future<Output = Result<T, ImportError>>,
{
    let mut field = loop {
        match multipart.next_field().await {
            Ok(Some(f)) if f.name() == Some("csv") => break f,
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "missing_file",
                    "the upload has no field named csv",
                )
                .with_field("csv"));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_upload",
                    e.body_text(),
                ))
            }
        }
    };
    let (tx, rx) = mpsc::channel(8);
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let pump = async move {
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        // The importer stopped (bad header, row limit): stop reading.
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.body_text()))).await;
                    return;
                }
            }
        }
    };
    let ((), result) = tokio::join!(pump, import(reader));
    Ok(result?)
}

fn multipart_or_400(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Multipart, ApiError> {
    multipart.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_upload",
            format!(
                "expected multipart/form-data with a csv field: {}",
                e.body_text()
            ),
        )
    })
}

/// `POST /api/dnc/import` (multipart field `csv`): numbers for the do-not-call list.
pub async fn dnc(
    State(state): State<AppState>,
    actor: Actor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<DncReport>, ApiError> {
    let multipart = multipart_or_400(multipart)?;
    let (store, region, max_rows, who) = (
        state.store.clone(),
        state.region,
        state.import_max_rows,
        actor.label().to_owned(),
    );
    let report = with_csv_field(multipart, move |reader| {
        import_dnc(store, reader, region, max_rows, who)
    })
    .await?;
    let detail = serde_json::json!({
        "total": report.total, "added": report.added,
        "already_listed": report.already_listed, "failed": report.failures.failed,
    });
    state
        .store
        .append_audit(actor.entry("import.dnc", "dnc", detail.to_string()))
        .await?;
    Ok(Json(report))
}
