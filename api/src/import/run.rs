//! The import driver: a blocking thread decodes and parses the stream (never the whole
//! file in memory) and hands batches through a bounded channel to the async side,
//! which writes them (customers, then the DNC entries of opt-out rows) and builds the
//! report in the seed's shape. Row numbers are the spreadsheet's: the header is row 1,
//! blank lines count, a cell with line breaks does not add rows.

use std::io::Read;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::layout::{Layout, LayoutError, Target};
use super::records::{clip, Records, REPORT_CELL_CHARS};
use super::row::{parse, parse_delivery, Definitions, ParsedDelivery, ParsedRow};
use crate::model::{now_millis, AttachError, DncEntry, DncSource};
use crate::phone::Region;
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
    pub target: Target,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            ignore_unknown: false,
            max_rows: DEFAULT_MAX_ROWS,
            region: Region::default(),
            actor: "upload".into(),
            target: Target::Prospects,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportedItem {
    pub row: u64,
    /// The customer id (absent on a prospects dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The delivery's code (deliveries uploads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedItem {
    pub row: u64,
    pub error_code: &'static str,
    pub error_message: String,
    /// The row's cells by header name (bounded: see [`Records::original_row`]).
    pub original_row: Map<String, Value>,
    /// Set when `original_row` or `error_message` was cut short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub original_row_truncated: bool,
}

/// A row's cells for a report, and whether they were cut short.
pub type OriginalRow = (Map<String, Value>, bool);

impl FailedItem {
    /// A failed row for the report; the message is bounded like the cells it may quote.
    pub fn new(
        row: u64,
        error_code: &'static str,
        error_message: &str,
        (original_row, truncated): OriginalRow,
    ) -> Self {
        let message = clip(error_message, 2 * REPORT_CELL_CHARS);
        Self {
            row,
            error_code,
            original_row_truncated: truncated || message.len() < error_message.len(),
            error_message: message.to_owned(),
            original_row,
        }
    }
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

/// Parsed rows of one kind, with their spreadsheet row numbers.
enum Batch {
    Customers(Vec<(u64, ParsedRow)>),
    /// With each row's cells, for a report of rows whose parent is not found.
    Deliveries(Vec<(u64, ParsedDelivery, OriginalRow)>),
}

impl Batch {
    fn new(target: Target) -> Self {
        match target {
            Target::Prospects => Self::Customers(Vec::with_capacity(BATCH)),
            Target::Deliveries => Self::Deliveries(Vec::with_capacity(BATCH)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Customers(v) => v.len(),
            Self::Deliveries(v) => v.len(),
        }
    }
}

/// What the parser thread sends.
enum Msg {
    Rows(Batch),
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
    let layout = match Layout::from_header(
        &records.header,
        &defs.keys(),
        options.target,
        options.ignore_unknown,
    ) {
        Ok(l) => l,
        Err(e) => {
            send(Msg::Error(e.into()));
            return;
        }
    };
    let mut batch = Batch::new(options.target);
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
            if batch.len() > 0 {
                send(Msg::Rows(batch));
            }
            send(Msg::TooMany { stopped_at: row });
            return;
        }
        let cells: Vec<&str> = record.iter().collect();
        let parsed = match &mut batch {
            Batch::Customers(rows) => {
                parse(&layout, &cells, defs, options.region).map(|p| rows.push((row, p)))
            }
            Batch::Deliveries(rows) => parse_delivery(&layout, &cells, defs, options.region)
                .map(|p| rows.push((row, p, records.original_row(&cells)))),
        };
        if let Err(e) = parsed {
            let failed = FailedItem::new(row, e.code, &e.message, records.original_row(&cells));
            if !send(Msg::Failed(failed)) {
                return;
            }
        } else if batch.len() == BATCH
            && !send(Msg::Rows(std::mem::replace(
                &mut batch,
                Batch::new(options.target),
            )))
        {
            return;
        }
    }
    if batch.len() > 0 {
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
    import(store, source, options, Target::Prospects, progress).await
}

/// Imports a deliveries-only CSV from `source`: each row's delivery is attached to the
/// customer its `parent_*` columns name.
pub async fn import_deliveries<R>(
    store: SharedStore,
    source: R,
    options: Options,
    progress: impl Fn(u64) + Send,
) -> Result<Report, ImportError>
where
    R: Read + Send + 'static,
{
    import(store, source, options, Target::Deliveries, progress).await
}

async fn import<R>(
    store: SharedStore,
    source: R,
    mut options: Options,
    target: Target,
    progress: impl Fn(u64) + Send,
) -> Result<Report, ImportError>
where
    R: Read + Send + 'static,
{
    options.target = target;
    let defs = Definitions::new(store.list_field_defs().await?);
    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let parse_options = options.clone();
    let parser = crate::background::spawn(move || parse_stream(source, &defs, &parse_options, &tx));
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
                let written = match rows {
                    Batch::Customers(rows) => {
                        write_batch(&store, rows, &options, &mut report).await
                    }
                    Batch::Deliveries(rows) => {
                        write_deliveries(&store, rows, &options, &mut report).await
                    }
                };
                if let Err(e) = written {
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
    // Parse failures arrive ahead of their batch's store failures (deliveries whose
    // parent is missing): report them in the file's order.
    report.failures.failed_items.sort_by_key(|f| f.row);
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
        dnc.extend(opt_out_entries(parsed.opt_out_phones, row, options, now));
    }
    if options.dry_run {
        for row in numbers {
            report.imported += 1;
            report.push_imported(ImportedItem {
                row,
                id: None,
                code: None,
                created: false,
            });
        }
        return Ok(());
    }
    let results = store.upsert_customers(customers).await?;
    if !dnc.is_empty() {
        report.dnc_added += store.add_dnc(dnc).await?;
    }
    for (row, r) in numbers.into_iter().zip(results) {
        report.count(r.created, r.changed);
        report.push_imported(ImportedItem {
            row,
            id: Some(r.id.into()),
            code: None,
            created: r.created,
        });
    }
    Ok(())
}

fn opt_out_entries(phones: Vec<String>, row: u64, options: &Options, now: i64) -> Vec<DncEntry> {
    phones
        .into_iter()
        .map(|phone| DncEntry {
            phone_e164: phone,
            reason: format!("opt-out in upload row {row}"),
            source: DncSource::Upload,
            added_by: options.actor.clone(),
            added_at: now,
        })
        .collect()
}

async fn write_deliveries(
    store: &SharedStore,
    rows: Vec<(u64, ParsedDelivery, OriginalRow)>,
    options: &Options,
    report: &mut Report,
) -> Result<(), ImportError> {
    let mut meta = Vec::with_capacity(rows.len());
    let mut batch = Vec::with_capacity(rows.len());
    for (row, parsed, original) in rows {
        meta.push((row, parsed.opt_out_phones, original));
        batch.push(parsed.delivery);
    }
    let results = store.attach_deliveries(batch, options.dry_run).await?;
    let now = now_millis();
    let mut dnc = Vec::new();
    for ((row, opt_out, original), result) in meta.into_iter().zip(results) {
        match result {
            Ok(a) => {
                if options.dry_run {
                    report.imported += 1;
                } else {
                    report.count(a.created, a.changed);
                    dnc.extend(opt_out_entries(opt_out, row, options, now));
                }
                report.push_imported(ImportedItem {
                    row,
                    id: Some(a.customer_id.into()),
                    code: Some(a.code),
                    created: a.created,
                });
            }
            Err(e) => {
                let (error_code, error_message) = match e {
                    AttachError::ParentNotFound => (
                        "PARENT_NOT_FOUND",
                        "no customer has this parent_invoice_phone, parent_invoice_mobile or parent_email".to_owned(),
                    ),
                    AttachError::AmbiguousParent { key, matches } => (
                        "DUPLICATE_KEY",
                        format!("{key} belongs to {matches} customers: give parent_invoice_phone to pick one"),
                    ),
                    AttachError::TooManyDeliveries => (
                        "TOO_MANY_DELIVERIES",
                        format!(
                            "the customer already has {} deliveries",
                            crate::model::MAX_DELIVERIES
                        ),
                    ),
                };
                report
                    .failures
                    .push(FailedItem::new(row, error_code, &error_message, original));
            }
        }
    }
    if !dnc.is_empty() {
        report.dnc_added += store.add_dnc(dnc).await?;
    }
    Ok(())
}

impl Report {
    fn count(&mut self, created: bool, changed: bool) {
        self.imported += 1;
        match (created, changed) {
            (true, _) => self.created += 1,
            (false, true) => self.updated += 1,
            (false, false) => self.unchanged += 1,
        }
    }

    fn push_imported(&mut self, item: ImportedItem) {
        if self.imported_items.len() < MAX_IMPORTED_ITEMS {
            self.imported_items.push(item);
        } else {
            self.imported_items_truncated = true;
        }
    }
}
