//! One store conformance suite, run against SQLite always and against MongoDB when
//! `AGENT5_TEST_MONGO_URI` is set (`make test` starts SecantusDB and sets it; with
//! `AGENT5_REQUIRE_MONGO=1` a missing URI is a failure, not a skip).

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod cases;
mod common;

use cases::*;

common::on_both_stores!(
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
    deliveries_attach_and_customer_pages,
    webhook_batches_and_pending_events,
);
