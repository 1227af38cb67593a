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

/// Runs the import; the error is the one line to print.
pub fn run(config: &Config, args: &ImportArgs<'_>) -> Result<agent5_api::import::Report, String> {
    let file = File::open(args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .map_err(|e| e.to_string())?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let store = crate::open_store_in(&runtime, config).map_err(|e| e.to_string())?;
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
    let report = result.map_err(|e| format!("{}: {e}", e.code()))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    match args.report {
        Some(path) => std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(report)
}
