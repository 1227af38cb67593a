//! One store conformance suite, run against SQLite always and against MongoDB when
//! `AGENT5_TEST_MONGO_URI` is set (`make test` starts SecantusDB and sets it; with
//! `AGENT5_REQUIRE_MONGO=1` a missing URI is a failure, not a skip).

#![allow(clippy::expect_used)] // a test: a failed expectation is the failure

mod cases;
mod common;

use cases::*;

common::on_both_stores!(
    ping_and_backend,
    an_upsert_creates_once_and_the_same_row_again_changes_nothing,
    a_customer_reads_back_with_its_tags_and_deliveries,
    a_replace_needs_the_version_it_read_and_a_key_of_its_own,
    an_archived_customer_leaves_the_list,
    upsert_without_key_is_invalid,
    field_defs_crud_and_conflicts,
    the_list_shows_invoice_or_delivery_contacts_and_archived_ones_on_request,
    a_tag_filter_needs_every_tag,
    language_filters_read_the_language_and_whether_it_was_confirmed,
    the_opt_out_filter_follows_the_dnc_list,
    text_search_is_literal_over_names_emails_and_phones,
    phone_and_combined_filters_narrow_to_one_contact,
    prospect_list_pagination_is_stable,
    the_list_sorts_by_name_or_company_both_ways,
    dnc_many_at_once_and_flags,
    concurrent_upserts_of_one_key,
    concurrent_appends_lose_nothing,
    webhook_events_are_recorded_once,
    webhook_dedup_under_concurrent_delivery,
    agents_crud_and_name_conflict,
    a_call_is_found_by_carrier_id_and_by_its_unique_idempotency_key,
    a_call_update_needs_the_version_it_read,
    calls_list_newest_first_by_status_phone_campaign_and_time,
    concurrent_turn_appends,
    campaigns_and_attempt_numbers,
    only_a_draft_campaign_is_deleted,
    a_phone_has_one_open_attempt_per_campaign,
    a_dial_list_keeps_one_entry_per_phone,
    waiting_entries_are_counted_up_to_a_limit,
    a_lease_has_one_holder_until_it_expires,
    counters_and_attempt_tallies,
    consent_is_revoked_by_hand_or_by_an_opt_out,
    deliveries_attach_to_the_customer_their_parent_keys_find,
    customers_page_in_id_order,
    webhook_batches_and_pending_events,
    a_users_email_is_unique_in_any_case,
    a_user_update_needs_the_version_it_read,
    users_list_by_email,
    sessions_are_found_touched_and_ended,
    tokens_are_found_by_digest_listed_and_revoked_once,
    roles_are_unique_by_name,
    the_audit_log_filters_by_actor_action_and_time_and_pages,
    nodes_register_beat_and_leave,
    a_silent_node_is_declared_lost_once,
    recording_parts_read_back_in_order_from_any_offset,
    the_calls_change_stream_reports_each_write_in_order,
);
