//! The import driver: a blocking thread decodes and parses the stream (never the whole
//! file in memory) and hands batches through a bounded channel to the async side,
//! which writes them (customers, then the DNC entries of opt-out rows) and builds the
//! report in the seed's shape. Row numbers are the spreadsheet's: the header is row 1,
//! blank lines count, a cell with line breaks does not add rows.

use std::io::Read;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::layout::{Layout, LayoutError};
use super::records::Records;
use super::row::{parse, Definitions, ParsedRow};
use crate::phone::Region;
use crate::store::model::{now_millis, DncEntry, DncSource};
use crate::store::{SharedStore, StoreError};

pub const DEFAULT_MAX_ROWS: u64 = 1_000_000;
pub const BATCH: usize = 1000;
const MAX_IMPORTED_ITEMS: usize = 1000;
const MAX_FAILED_ITEMS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub ignore_unknown: bool,
    pub max_rows: u64,
    pub region: Region,
    /// Who the DNC entries of opt-out rows are attributed to.
    pub actor: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            ignore_unknown: false,
            max_rows: DEFAULT_MAX_ROWS,
            region: Region::default(),
            actor: "upload".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportedItem {
    pub row: u64,
    /// The customer id (absent on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedItem {
    pub row: u64,
    pub error_code: &'static str,
    pub error_message: String,
    /// The row's cells by header name.
    pub original_row: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Report {
    /// Rows stored (created + updated + unchanged), or that would be on a dry run.
    pub imported: u64,
    /// Data rows read (blank rows excluded).
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// New DNC entries from opt-out rows.
    pub dnc_added: u64,
    pub dry_run: bool,
    pub encoding: &'static str,
    pub delimiter: String,
    /// The first 1000 imported rows.
    pub imported_items: Vec<ImportedItem>,
    pub imported_items_truncated: bool,
    #[serde(flatten)]
    pub failures: Failures,
}

/// A report's failed rows: every one counted, the first 10000 kept.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Failures {
    pub failed: u64,
    pub failed_items: Vec<FailedItem>,
    pub failed_items_truncated: bool,
}

impl Failures {
    pub fn push(&mut self, item: FailedItem) {
        self.failed += 1;
        if self.failed_items.len() < MAX_FAILED_ITEMS {
            self.failed_items.push(item);
        } else {
            self.failed_items_truncated = true;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("more than {limit} rows; the rows before row {stopped_at} were imported, the rest was not: split the file")]
    TooManyRows { limit: u64, stopped_at: u64 },
    #[error("the file could not be read: {0}")]
    Read(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Layout(e) => e.code(),
            Self::TooManyRows { .. } => "too_many_rows",
            Self::Read(_) => "unreadable_file",
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// What the parser thread sends.
enum Msg {
    Rows(Vec<(u64, ParsedRow)>),
    Failed(FailedItem),
    Done {
        total: u64,
        encoding: &'static str,
        delimiter: u8,
    },
    TooMany {
        stopped_at: u64,
    },
    Error(ImportError),
}

/// Parses `source` on the calling (blocking) thread, sending batches to `tx`.
fn parse_stream<R: Read>(source: R, defs: &Definitions, options: &Options, tx: &mpsc::Sender<Msg>) {
    let send = |m: Msg| tx.blocking_send(m).is_ok();
    let mut records = match Records::open(source) {
        Ok(r) => r,
        Err(e) => {
            send(Msg::Error(e));
            return;
        }
    };
    let layout = match Layout::from_header(&records.header, &defs.keys(), options.ignore_unknown) {
        Ok(l) => l,
        Err(e) => {
            send(Msg::Error(e.into()));
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut total = 0u64;
    while let Some(next) = records.next_record() {
        let (row, record) = match next {
            Ok(r) => r,
            Err(e) => {
                send(Msg::Error(e));
                return;
            }
        };
        total += 1;
        if total > options.max_rows {
            if !batch.is_empty() {
                send(Msg::Rows(std::mem::take(&mut batch)));
            }
            send(Msg::TooMany { stopped_at: row });
            return;
        }
        let cells: Vec<&str> = record.iter().collect();
        match parse(&layout, &cells, defs, options.region) {
            Ok(parsed) => {
                batch.push((row, parsed));
                if batch.len() == BATCH
                    && !send(Msg::Rows(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )))
                {
                    return;
                }
            }
            Err(e) => {
                let failed = FailedItem {
                    row,
                    error_code: e.code,
                    error_message: e.message,
                    original_row: records.original_row(&cells),
                };
                if !send(Msg::Failed(failed)) {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        send(Msg::Rows(batch));
    }
    send(Msg::Done {
        total,
        encoding: records.encoding(),
        delimiter: records.delimiter,
    });
}

/// Imports a prospects CSV from `source`. `progress` is called with the number of data
/// rows handled so far after each batch.
pub async fn import_prospects<R>(
    store: SharedStore,
    source: R,
    options: Options,
    progress: impl Fn(u64) + Send,
) -> Result<Report, ImportError>
where
    R: Read + Send + 'static,
{
    let defs = Definitions::new(store.list_field_defs().await?);
    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let parse_options = options.clone();
    let parser =
        tokio::task::spawn_blocking(move || parse_stream(source, &defs, &parse_options, &tx));
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    let mut handled = 0u64;
    let mut outcome = Ok(());
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Rows(rows) => {
                handled += rows.len() as u64;
                if let Err(e) = write_batch(&store, rows, &options, &mut report).await {
                    outcome = Err(e);
                    break;
                }
                progress(handled + report.failures.failed);
            }
            Msg::Failed(item) => report.failures.push(item),
            Msg::Done {
                total,
                encoding,
                delimiter,
            } => {
                report.total = total;
                report.encoding = encoding;
                report.delimiter = char::from(delimiter).to_string();
            }
            Msg::TooMany { stopped_at } => {
                outcome = Err(ImportError::TooManyRows {
                    limit: options.max_rows,
                    stopped_at,
                });
            }
            Msg::Error(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    drop(rx);
    parser
        .await
        .map_err(|e| ImportError::Read(format!("parser stopped: {e}")))?;
    outcome.map(|()| report)
}

async fn write_batch(
    store: &SharedStore,
    rows: Vec<(u64, ParsedRow)>,
    options: &Options,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut numbers = Vec::with_capacity(rows.len());
    let mut customers = Vec::with_capacity(rows.len());
    let mut dnc = Vec::new();
    let now = now_millis();
    for (row, parsed) in rows {
        numbers.push(row);
        customers.push(parsed.customer);
        dnc.extend(parsed.opt_out_phones.into_iter().map(|phone| DncEntry {
            phone_e164: phone,
            reason: format!("opt-out in upload row {row}"),
            source: DncSource::Upload,
            added_by: options.actor.clone(),
            added_at: now,
        }));
    }
    if options.dry_run {
        for row in numbers {
            report.imported += 1;
            if report.imported_items.len() < MAX_IMPORTED_ITEMS {
                report.imported_items.push(ImportedItem {
                    row,
                    id: None,
                    created: false,
                });
            } else {
                report.imported_items_truncated = true;
            }
        }
        return Ok(());
    }
    let results = store.upsert_customers(customers).await?;
    if !dnc.is_empty() {
        report.dnc_added += store.add_dnc(dnc).await?;
    }
    for (row, r) in numbers.into_iter().zip(results) {
        report.imported += 1;
        match (r.created, r.changed) {
            (true, _) => report.created += 1,
            (false, true) => report.updated += 1,
            (false, false) => report.unchanged += 1,
        }
        if report.imported_items.len() < MAX_IMPORTED_ITEMS {
            report.imported_items.push(ImportedItem {
                row,
                id: Some(r.id),
                created: r.created,
            });
        } else {
            report.imported_items_truncated = true;
        }
    }
    Ok(())
}
