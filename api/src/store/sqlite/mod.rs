//! The embedded store: SQLite in WAL mode with `synchronous=FULL` (an acknowledged
//! write survives a crash), a migration table, one writer connection and a few reader
//! connections. Every call runs on tokio's blocking pool at the background priority
//! ([`crate::background`]), never on the async runtime.

mod access;
mod agents;
mod audit;
mod calls;
mod campaigns;
mod consents;
mod customers;
mod dialer;
mod dnc;
mod field_defs;
mod nodes;
mod recordings;
mod schema;
mod support;
mod users;
mod webhook_events;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};

use super::{Store, StoreError, StoreResult};

const READERS: usize = 4;

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_path_buf();
        crate::background::spawn(move || Self::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Unavailable(format!("open task failed: {e}")))?
    }

    fn open_blocking(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let mut writer = connect(path, false)?;
        schema::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| connect(path, true).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the writer connection on the blocking pool (background priority).
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        crate::background::spawn(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Unavailable("writer lock poisoned".into()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }

    /// Runs `f` with a reader connection on the blocking pool (background priority).
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        crate::background::spawn(move || {
            let start = inner.next_reader.fetch_add(1, Ordering::Relaxed);
            let n = inner.readers.len();
            let conn = (0..n)
                .find_map(|i| inner.readers[(start + i) % n].try_lock().ok())
                .map_or_else(|| inner.readers[start % n].lock(), Ok)
                .map_err(|_| StoreError::Unavailable("reader lock poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn connect(path: &Path, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    // synchronous=FULL: a commit is on disk when it returns. Checkpoints every 32 MiB of
    // WAL (not 4 MiB) keep bulk imports from fsyncing the main file constantly. A 16 MiB
    // page cache per connection and no mmap keep the resident size flat as the file
    // grows (a 1M-row import stays far under 150 MB).
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16384; PRAGMA mmap_size = 0; PRAGMA wal_autocheckpoint = 8192;",
    )
    .map_err(err)?;
    if !read_only {
        // 8 KiB pages: fewer splits for the wide list indexes (only takes effect when
        // the file is created).
        conn.execute_batch("PRAGMA page_size = 8192;")
            .map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "WAL not available (journal_mode={mode})"
            )));
        }
    }
    Ok(conn)
}

/// Maps SQLite errors to the store's kinds. Unique violations name the column.
pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            let field = msg
                .as_deref()
                .and_then(|m| m.rsplit('.').next())
                .unwrap_or("unknown")
                .to_owned();
            return StoreError::Conflict { field };
        }
    }
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(err))
            .await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// Ids are stored as the plain strings they are.
macro_rules! id_as_sql {
    ($t:ty) => {
        impl rusqlite::types::FromSql for $t {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                String::column_result(value).map(Self::from)
            }
        }

        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
    };
}
id_as_sql!(crate::model::CallId);
id_as_sql!(crate::model::CustomerId);
