//! Store setup shared by the API-crate test files: SQLite in a temp dir always, MongoDB
//! in a fresh database when `AGENT5_TEST_MONGO_URI` is set (`AGENT5_REQUIRE_MONGO=1`
//! turns a missing URI into a failure, as `make test` does).

pub mod router;

use std::sync::Arc;

use agent5_api::store::mongo::MongoStore;
use agent5_api::store::sqlite::SqliteStore;
use agent5_api::store::SharedStore;

pub async fn sqlite() -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(&dir.path().join("agent5.db"))
        .await
        .expect("open sqlite");
    (Arc::new(store), dir)
}

pub async fn mongo(test: &str) -> Option<SharedStore> {
    let Ok(uri) = std::env::var("AGENT5_TEST_MONGO_URI") else {
        assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
        );
        eprintln!("AGENT5_TEST_MONGO_URI unset: skipping the MongoDB run of {test}");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    // MongoDB names are at most 63 bytes: a long test name is clipped (the suffix
    // keeps it unique).
    let name: String = test.chars().take(40).collect();
    let db = format!("t_{name}_{:08x}", nanos ^ std::process::id());
    Some(Arc::new(
        MongoStore::connect_database(&uri, Some(&db))
            .await
            .expect("connect mongo"),
    ))
}

/// The one way a test runs on both stores: each `async fn(SharedStore)` scenario in
/// scope becomes two tests, `on_sqlite::<scenario>` and `on_mongo::<scenario>` (in a
/// fresh database named after it; skipped without a MongoDB URI).
#[allow(unused_macros)] // not every test file runs scenarios on both stores
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let (store, _dir) = crate::common::sqlite().await;
                    super::$scenario(store).await;
                }
            )*
        }
        mod on_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    if let Some(store) = crate::common::mongo(stringify!($scenario)).await {
                        super::$scenario(store).await;
                    }
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_stores;
