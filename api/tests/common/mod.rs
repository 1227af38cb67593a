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
    let db = format!("t_{test}_{:08x}", nanos ^ std::process::id());
    Some(Arc::new(
        MongoStore::connect_database(&uri, Some(&db))
            .await
            .expect("connect mongo"),
    ))
}

/// Runs each `async fn(SharedStore)` scenario as two tests: on SQLite, and on MongoDB
/// in a fresh database named after the test (skipped without a MongoDB URI).
#[allow(unused_macros)] // not every test file runs scenarios on both stores
macro_rules! on_both_stores {
    ($($on_sqlite:ident, $on_mongo:ident => $scenario:ident;)*) => {$(
        #[tokio::test]
        async fn $on_sqlite() {
            let (store, _dir) = common::sqlite().await;
            $scenario(store).await;
        }

        #[tokio::test]
        async fn $on_mongo() {
            if let Some(store) = common::mongo(stringify!($scenario)).await {
                $scenario(store).await;
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use on_both_stores;
