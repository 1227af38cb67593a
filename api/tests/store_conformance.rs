//! One store conformance suite, run against SQLite always and against MongoDB when
//! `AGENT5_TEST_MONGO_URI` is set (`make test` starts SecantusDB and sets it; with
//! `AGENT5_REQUIRE_MONGO=1` a missing URI is a failure, not a skip).

mod cases;

use std::sync::Arc;

use agent5_api::store::mongo::MongoStore;
use agent5_api::store::sqlite::SqliteStore;
use agent5_api::store::SharedStore;

async fn sqlite() -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(&dir.path().join("agent5.db"))
        .await
        .expect("open sqlite");
    (Arc::new(store), dir)
}

async fn mongo(test: &str) -> Option<SharedStore> {
    let Ok(uri) = std::env::var("AGENT5_TEST_MONGO_URI") else {
        assert!(
            std::env::var_os("AGENT5_REQUIRE_MONGO").is_none(),
            "AGENT5_REQUIRE_MONGO is set but AGENT5_TEST_MONGO_URI is not"
        );
        eprintln!("AGENT5_TEST_MONGO_URI unset: skipping the MongoDB run of {test}");
        return None;
    };
    let db = format!("t_{test}_{:08x}", rand_suffix());
    let store = MongoStore::connect_database(&uri, Some(&db))
        .await
        .expect("connect mongo");
    Some(Arc::new(store))
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.subsec_nanos() ^ std::process::id()
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _dir) = super::sqlite().await;
                    super::cases::$case(store).await;
                }
            )*
        }
        mod on_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    if let Some(store) = super::mongo(stringify!($case)).await {
                        super::cases::$case(store).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    ping_and_backend,
    customer_upsert_get_replace_archive,
    upsert_without_key_is_invalid,
    field_defs_crud_and_conflicts,
    prospect_list_filters,
    prospect_list_pagination_is_stable,
    dnc_many_at_once_and_flags,
    concurrent_upserts_of_one_key,
    concurrent_appends_lose_nothing,
    webhook_events_are_recorded_once,
    webhook_dedup_under_concurrent_delivery,
    agents_crud_and_name_conflict,
    calls_create_find_update_and_list,
    concurrent_turn_appends,
    campaigns_and_attempt_numbers,
);
