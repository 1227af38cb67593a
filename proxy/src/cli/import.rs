//! `agent5 import prospects|deliveries FILE.csv`: the HTTP upload's importer on a local file, for
//! files too big to send through a browser. Same parsing, same batches, same report
//! (written as JSON to stdout or `--report`), with a progress bar on stderr.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use agent5_api::import::{import_deliveries, import_prospects, Target};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

/// Counts bytes read into the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub struct ImportArgs<'a> {
    pub file: &'a Path,
    pub dry_run: bool,
    pub ignore_unknown: bool,
    pub report: Option<&'a Path>,
    pub target: agent5_api::import::Target,
}

/// Why `agent5 import` stopped; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum ImportCmdError {
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Store(#[from] crate::RunError),
    #[error("{code}: {message}")]
    Import { code: &'static str, message: String },
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ImportCmdError + '_ {
    move |source| ImportCmdError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Runs the import.
pub fn run(
    config: &Config,
    args: &ImportArgs<'_>,
) -> Result<agent5_api::import::Report, ImportCmdError> {
    let file = File::open(args.file).map_err(file_error(args.file))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .map_err(|e| ImportCmdError::Setup(e.to_string()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ImportCmdError::Setup(e.to_string()))?;
    let store = crate::open_store_in(&runtime, config)?;
    let options = agent5_api::import::Options {
        dry_run: args.dry_run,
        ignore_unknown: args.ignore_unknown,
        max_rows: config.limits.upload_max_rows,
        region: config.default_region,
        actor: "cli".into(),
        target: args.target,
    };
    let reader = Counted {
        inner: file,
        bar: bar.clone(),
    };
    let rows_bar = bar.clone();
    let progress = move |rows: u64| rows_bar.set_message(format!("{rows} rows"));
    let result = runtime.block_on(async {
        match args.target {
            Target::Prospects => import_prospects(store, reader, options, progress).await,
            Target::Deliveries => import_deliveries(store, reader, options, progress).await,
        }
    });
    bar.finish_and_clear();
    let report = result.map_err(|e| ImportCmdError::Import {
        code: e.code(),
        message: e.to_string(),
    })?;
    let json =
        serde_json::to_string_pretty(&report).map_err(|e| ImportCmdError::Setup(e.to_string()))?;
    match args.report {
        Some(path) => std::fs::write(path, json).map_err(file_error(path))?,
        None => println!("{json}"),
    }
    Ok(report)
}
