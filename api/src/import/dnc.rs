//! DNC list import (national do-not-call scrubs): a CSV with a phone column (`phone`,
//! `phone_e164`, `number`, `msisdn`, `telephone` or `telefoon`) and an optional
//! `reason`. Each number is normalised like any other phone; valid ones are added in
//! batches (existing entries are kept as they were), invalid ones are reported by row.

use std::io::Read;

use serde::Serialize;
use tokio::sync::mpsc;

use super::records::Records;
use super::run::{FailedItem, Failures, ImportError, BATCH};
use crate::model::{now_millis, DncEntry, DncSource};
use crate::phone::{Region, E164};
use crate::store::SharedStore;

const PHONE_COLUMNS: [&str; 6] = [
    "phone",
    "phone_e164",
    "number",
    "msisdn",
    "telephone",
    "telefoon",
];

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DncReport {
    /// Data rows read.
    pub total: u64,
    /// Numbers newly on the list.
    pub added: u64,
    /// Valid numbers that were already listed.
    pub already_listed: u64,
    pub encoding: &'static str,
    #[serde(flatten)]
    pub failures: Failures,
}

enum Msg {
    Batch(Vec<(String, String)>),
    Failed(FailedItem),
    Done { total: u64, encoding: &'static str },
    Error(ImportError),
}

fn parse_stream<R: Read>(source: R, region: Region, max_rows: u64, tx: &mpsc::Sender<Msg>) {
    let send = |m: Msg| tx.blocking_send(m).is_ok();
    let mut records = match Records::open(source) {
        Ok(r) => r,
        Err(e) => {
            send(Msg::Error(e));
            return;
        }
    };
    let find = |names: &[&str]| {
        records
            .header
            .iter()
            .position(|h| names.contains(&h.to_ascii_lowercase().as_str()))
    };
    let Some(phone_col) = find(&PHONE_COLUMNS) else {
        send(Msg::Error(ImportError::Layout(
            super::layout::LayoutError::Unknown(vec![format!(
                "no phone column (one of {})",
                PHONE_COLUMNS.join(", ")
            )]),
        )));
        return;
    };
    let reason_col = find(&["reason"]);
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
        if total > max_rows {
            send(Msg::Batch(std::mem::take(&mut batch)));
            send(Msg::Error(ImportError::TooManyRows {
                limit: max_rows,
                stopped_at: row,
            }));
            return;
        }
        let cell = record.get(phone_col).unwrap_or("").trim();
        match E164::normalize(cell, region) {
            Ok(phone) => {
                let reason = reason_col
                    .and_then(|c| record.get(c))
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                batch.push((phone.into_string(), reason));
                if batch.len() == BATCH
                    && !send(Msg::Batch(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )))
                {
                    return;
                }
            }
            Err(e) => {
                let cells: Vec<&str> = record.iter().collect();
                let failed = FailedItem::new(
                    row,
                    "INVALID_PHONE",
                    &format!("{}: {cell:?} is {e}", records.header[phone_col]),
                    records.original_row(&cells),
                );
                if !send(Msg::Failed(failed)) {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        send(Msg::Batch(batch));
    }
    send(Msg::Done {
        total,
        encoding: records.encoding(),
    });
}

/// Imports DNC numbers from `source`, attributed to `actor` with source `upload`.
pub async fn import_dnc<R>(
    store: SharedStore,
    source: R,
    region: Region,
    max_rows: u64,
    actor: String,
) -> Result<DncReport, ImportError>
where
    R: Read + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let parser = crate::background::spawn(move || parse_stream(source, region, max_rows, &tx));
    let mut report = DncReport::default();
    let mut outcome = Ok(());
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch(entries) => {
                let accepted = entries.len() as u64;
                let now = now_millis();
                let entries = entries
                    .into_iter()
                    .map(|(phone, reason)| DncEntry {
                        phone_e164: phone,
                        reason: if reason.is_empty() {
                            "dnc import".into()
                        } else {
                            reason
                        },
                        source: DncSource::Upload,
                        added_by: actor.clone(),
                        added_at: now,
                    })
                    .collect();
                match store.add_dnc(entries).await {
                    Ok(added) => {
                        report.added += added;
                        report.already_listed += accepted - added;
                    }
                    Err(e) => {
                        outcome = Err(e.into());
                        break;
                    }
                }
            }
            Msg::Failed(item) => report.failures.push(item),
            Msg::Done { total, encoding } => {
                report.total = total;
                report.encoding = encoding;
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
