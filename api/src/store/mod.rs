//! Storage: MongoDB in production (`MONGO_URI`), embedded SQLite by default.
//!
//! One trait per aggregate, both backends behind [`Store`], one conformance suite
//! (`api/tests/store_conformance.rs`) that runs against each. Both answer with the
//! same results, the same ordering and the same [`StoreError`] kinds.
//!
//! The prospect list is answered from derived contact rows (one per invoice contact
//! and per delivery) that carry the filter fields and an `opt_out` flag. The flag is
//! written in the same transaction as the DNC change or customer write that affects it,
//! so the list never disagrees with `dnc` after a crash.

pub mod mongo;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{
    AgentProfile, ApiToken, AttachError, Attached, AttemptState, AttemptTally, AuditEntry,
    AuditQuery, Call, CallAttempt, CallQuery, CallStatus, Campaign, Consent, ContactRow, Customer,
    DialEntry, DncEntry, EntryCounts, EntryState, FieldDef, Millis, NewCustomer, NewDelivery,
    NewWebhookEvent, NodeRecord, NodeStatus, Page, ProspectQuery, RecordingPart, Role, Session,
    Turn, Upserted, User, WebhookEvent,
};

/// Every store failure is one of these kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique key is taken; `field` names it (`key`, `phone_e164`, `upsert_key`, ...).
    #[error("{field} already exists")]
    Conflict { field: String },
    /// The database cannot be reached or failed; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request cannot be stored as given.
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Why a version-checked write matched nothing: the record is gone, or another writer
/// changed it since it was read. The same answer on every backend.
pub(crate) fn version_refused(exists: bool) -> StoreError {
    if exists {
        StoreError::Conflict {
            field: "version".into(),
        }
    } else {
        StoreError::NotFound
    }
}

#[async_trait]
pub trait CustomerStore {
    /// Upserts each customer by its upsert key, in order, in batches. An item without
    /// a key is `Invalid` and nothing of the batch is written.
    async fn upsert_customers(&self, batch: Vec<NewCustomer>) -> StoreResult<Vec<Upserted>>;
    async fn get_customer(&self, id: &str) -> StoreResult<Customer>;
    /// Replaces a customer if `version` still matches (else `Conflict { field: "version" }`).
    async fn replace_customer(&self, customer: Customer) -> StoreResult<Customer>;
    async fn set_archived(&self, id: &str, archived: bool) -> StoreResult<Customer>;
    async fn list_prospects(&self, query: &ProspectQuery) -> StoreResult<Page<ContactRow>>;
    async fn count_customers(&self) -> StoreResult<u64>;
    /// Attaches each delivery to the customer its parent keys find (see
    /// [`Customer::attach_delivery`]), in order, in one transaction; one outcome per
    /// item. `dry_run` resolves parents and matches deliveries without writing.
    async fn attach_deliveries(
        &self,
        batch: Vec<NewDelivery>,
        dry_run: bool,
    ) -> StoreResult<Vec<Result<Attached, AttachError>>>;
    /// Customers ordered by id, starting after `after` (keyset pages for exports).
    async fn list_customers(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Customer>>;
    /// The distinct delivery codes in use (at most [`crate::model::MAX_DELIVERIES`]), so an
    /// export knows how many `delivery_N_*` column groups it needs.
    async fn delivery_codes(&self) -> StoreResult<Vec<String>>;
}

#[async_trait]
pub trait DncStore {
    /// Adds phones (an existing entry is kept as it was). Returns how many were new.
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64>;
    /// Removes phones. Returns how many were present.
    async fn remove_dnc(&self, phones: &[String]) -> StoreResult<u64>;
    /// The subset of `phones` that is opted out, sorted.
    async fn dnc_lookup(&self, phones: &[String]) -> StoreResult<Vec<String>>;
    /// Entries ordered by phone; `prefix` filters on the start of the number.
    async fn list_dnc(
        &self,
        prefix: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<DncEntry>>;
}

#[async_trait]
pub trait FieldDefStore {
    /// `Conflict { field: "key" }` when the key is taken.
    async fn create_field_def(&self, def: FieldDef) -> StoreResult<FieldDef>;
    async fn update_field_def(&self, def: FieldDef) -> StoreResult<FieldDef>;
    async fn delete_field_def(&self, id: &str) -> StoreResult<()>;
    /// Ordered by `order`, then `key`.
    async fn list_field_defs(&self) -> StoreResult<Vec<FieldDef>>;
}

#[async_trait]
pub trait WebhookEventStore {
    /// Records received events durably in one write. Per event `true` the first time
    /// its id is seen, `false` for a duplicate (also within the batch); under any
    /// concurrency exactly one caller sees `true` for an id. New events are pending
    /// until [`WebhookEventStore::mark_webhook_events_processed`].
    async fn record_webhook_events(&self, events: Vec<NewWebhookEvent>) -> StoreResult<Vec<bool>>;

    /// [`WebhookEventStore::record_webhook_events`] for one event.
    async fn record_webhook_event(
        &self,
        event_id: &str,
        event_type: &str,
        payload: &str,
    ) -> StoreResult<bool> {
        let event = NewWebhookEvent {
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            payload: payload.to_owned(),
        };
        Ok(self
            .record_webhook_events(vec![event])
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }

    async fn mark_webhook_events_processed(&self, event_ids: Vec<String>) -> StoreResult<()>;

    /// Pending events received before `received_before`, oldest first.
    async fn pending_webhook_events(
        &self,
        received_before: crate::model::Millis,
        limit: u64,
    ) -> StoreResult<Vec<WebhookEvent>>;
}

#[async_trait]
pub trait AuditStore {
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    /// Newest first (`at` desc, then insertion order desc), filtered and paged.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>>;
}

/// Browser sessions, API tokens and added roles: shared by every appliance on one
/// store, so a sign-in, a revocation or a sign-out holds on all of them.
#[async_trait]
pub trait AccessStore {
    async fn create_session(&self, session: Session) -> StoreResult<Session>;
    /// `NotFound` when there is none under this hash.
    async fn get_session(&self, id_hash: &str) -> StoreResult<Session>;
    /// Moves `last_seen_at` forward (never back).
    async fn touch_session(&self, id_hash: &str, at: Millis) -> StoreResult<()>;
    /// Whether there was one.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Ends every session of the user but `keep` (a hash); returns how many ended.
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64>;
    /// Removes sessions idle since before `idle_before` or created before
    /// `created_before`; returns how many.
    async fn purge_sessions(&self, idle_before: Millis, created_before: Millis)
        -> StoreResult<u64>;

    /// `Conflict { field: "digest" }` if the secret's digest exists (never in practice).
    async fn create_token(&self, token: ApiToken) -> StoreResult<ApiToken>;
    async fn get_token(&self, id: &str) -> StoreResult<ApiToken>;
    async fn find_token_by_digest(&self, digest: &str) -> StoreResult<ApiToken>;
    /// Every token (of one user when `user_id` is given), newest first.
    async fn list_tokens(&self, user_id: Option<&str>) -> StoreResult<Vec<ApiToken>>;
    /// Sets `revoked_at` once (a second revoke keeps the first time); returns the token.
    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<ApiToken>;
    /// Moves `last_used_at` forward (never back).
    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()>;

    /// `Conflict { field: "name" }` when taken.
    async fn create_role(&self, role: Role) -> StoreResult<Role>;
    /// By name.
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    async fn delete_role(&self, name: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait AgentStore {
    /// `Conflict { field: "name" }` when the name is taken.
    async fn create_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile>;
    async fn get_agent(&self, id: &str) -> StoreResult<AgentProfile>;
    async fn update_agent(&self, agent: AgentProfile) -> StoreResult<AgentProfile>;
    async fn delete_agent(&self, id: &str) -> StoreResult<()>;
    /// Ordered by name.
    async fn list_agents(&self) -> StoreResult<Vec<AgentProfile>>;
}

#[async_trait]
pub trait CallStore {
    /// `Conflict` on `idempotency_key` or `call_control_id` when taken.
    async fn create_call(&self, call: Call) -> StoreResult<Call>;
    async fn get_call(&self, id: &str) -> StoreResult<Call>;
    async fn find_call_by_control_id(&self, call_control_id: &str) -> StoreResult<Call>;
    async fn find_call_by_idempotency_key(&self, key: &str) -> StoreResult<Call>;
    /// Replaces the call if `version` still matches (else `Conflict { field: "version" }`);
    /// returns it with the version bumped.
    async fn update_call(&self, call: Call) -> StoreResult<Call>;
    /// Appends a transcript turn; the store assigns `seq` (1, 2, ...) and never loses
    /// or repeats one under concurrent appends. `NotFound` for an unknown call.
    async fn append_turn(&self, call_id: &str, turn: Turn) -> StoreResult<i64>;
    /// In `seq` order.
    async fn list_turns(&self, call_id: &str) -> StoreResult<Vec<Turn>>;
    /// Newest first (`started_at` desc, then id desc).
    async fn list_calls(&self, query: &CallQuery) -> StoreResult<Page<Call>>;
    /// How many calls are in one of `statuses` (the concurrency cap counts live ones).
    async fn count_calls_in(&self, statuses: &[CallStatus]) -> StoreResult<u64>;
    /// Every call written from now on (created or changed), as it is when the change
    /// is read; `Ok(None)` where the backend has no change streams (SQLite, a MongoDB
    /// that is not a replica set). The stream ends or fails when the store's does.
    async fn watch_calls(&self) -> StoreResult<Option<CallChanges>> {
        Ok(None)
    }
}

/// The calls a change stream reports, in the order they were written.
pub type CallChanges = futures_util::stream::BoxStream<'static, StoreResult<Call>>;

#[async_trait]
pub trait CampaignStore {
    /// `Conflict { field: "name" }` when the name is taken.
    async fn create_campaign(&self, campaign: Campaign) -> StoreResult<Campaign>;
    async fn get_campaign(&self, id: &str) -> StoreResult<Campaign>;
    /// Version-checked like calls.
    async fn update_campaign(&self, campaign: Campaign) -> StoreResult<Campaign>;
    /// Newest first.
    async fn list_campaigns(&self) -> StoreResult<Vec<Campaign>>;
    /// Deletes a campaign only while its status is `draft`, checked in the same
    /// write: `Conflict { field: "status" }` when it is not (any more), `NotFound`.
    async fn delete_draft_campaign(&self, id: &str) -> StoreResult<()>;
    /// Records an attempt, assigning `attempt_no`; returns it.
    async fn record_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt>;
    /// Reserves the next attempt on the attempt's campaign and phone before the carrier
    /// is asked (its `attempt_no` assigned as by [`Self::record_attempt`], its state
    /// `reserved`): `Conflict { field: "in_flight" }` while the latest attempt there
    /// is still open, so two dialers (or two appliances) never dial one phone of one
    /// campaign at once.
    async fn reserve_attempt(&self, attempt: CallAttempt) -> StoreResult<CallAttempt>;
    /// Writes `attempt` (found by id) only if its stored state is one of `from`:
    /// `Conflict { field: "state" }` otherwise, `NotFound` when it does not exist.
    async fn settle_attempt(
        &self,
        attempt: CallAttempt,
        from: &[AttemptState],
    ) -> StoreResult<CallAttempt>;
    /// Open attempts (`reserved`, `dialed`) started before `cutoff` (Unix ms), oldest
    /// first: what reconciliation looks at.
    async fn open_attempts_before(&self, cutoff: Millis) -> StoreResult<Vec<CallAttempt>>;
    /// A campaign's attempts for one phone, oldest first.
    async fn list_attempts(
        &self,
        campaign_id: &str,
        phone_e164: &str,
    ) -> StoreResult<Vec<CallAttempt>>;
}

/// The dialler's state, shared by every appliance on one store: each campaign's dial
/// list, its counters, and leases whose expiry the database's clock decides.
#[async_trait]
pub trait DialerStore {
    /// Adds entries to their campaigns' dial lists; a phone already listed in that
    /// campaign is left as it is. Returns how many were new.
    async fn add_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<u64>;
    /// `waiting` entries whose `next_at` is at or before `now`, earliest first.
    async fn due_dial_entries(
        &self,
        campaign_id: &str,
        now: Millis,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>>;
    /// Entries in `state`, least recently updated first.
    async fn dial_entries_in(
        &self,
        campaign_id: &str,
        state: EntryState,
        limit: u64,
    ) -> StoreResult<Vec<DialEntry>>;
    async fn get_dial_entry(&self, campaign_id: &str, phone_e164: &str) -> StoreResult<DialEntry>;
    /// Writes the entry (by campaign and phone), whatever was there.
    async fn put_dial_entry(&self, entry: DialEntry) -> StoreResult<()>;
    /// Writes several entries at once (one transaction on SQLite).
    async fn put_dial_entries(&self, entries: Vec<DialEntry>) -> StoreResult<()>;
    async fn dial_entry_counts(&self, campaign_id: &str) -> StoreResult<EntryCounts>;
    /// How many `waiting` entries are due at or before `due_before`, counting no
    /// further than `limit`.
    async fn count_waiting(
        &self,
        campaign_id: &str,
        due_before: Millis,
        limit: u64,
    ) -> StoreResult<u64>;
    /// Adds `n` to each named counter of the campaign (created at zero).
    async fn bump_counters(&self, campaign_id: &str, counts: Vec<(String, i64)>)
        -> StoreResult<()>;
    async fn campaign_counters(
        &self,
        campaign_id: &str,
    ) -> StoreResult<std::collections::BTreeMap<String, i64>>;
    /// Takes or renews the lease `name` for `holder` until the database's now + `ttl_ms`;
    /// `false` while another holder's lease has not expired by the database's clock.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> StoreResult<bool>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// The campaign's attempts started at or after `since` (`open` counts every open
    /// one, whenever it started), with the dispositions of those that ended.
    async fn attempt_tally(&self, campaign_id: &str, since: Millis) -> StoreResult<AttemptTally>;
    /// A campaign's attempts by start time (then id), `offset` skipped.
    async fn campaign_attempts(
        &self,
        campaign_id: &str,
        newest_first: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<CallAttempt>>;
    /// The phone's most recently started attempt in any campaign.
    async fn latest_attempt_of_phone(&self, phone_e164: &str) -> StoreResult<Option<CallAttempt>>;
}

/// The consent ledger, one current record per phone (its history is the audit log).
#[async_trait]
pub trait ConsentStore {
    /// Records consent for its phone, replacing what was there.
    async fn put_consent(&self, consent: Consent) -> StoreResult<Consent>;
    async fn get_consent(&self, phone_e164: &str) -> StoreResult<Consent>;
    /// By phone, after `after` (exclusive).
    async fn list_consents(&self, after: Option<&str>, limit: u64) -> StoreResult<Vec<Consent>>;
    /// Revokes the phone's consent (`NotFound` without one); an already revoked
    /// consent keeps its first revocation.
    async fn revoke_consent(
        &self,
        phone_e164: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Consent>;
}

/// The whole store.
#[async_trait]
pub trait UserStore {
    /// Creates a user; an email taken in any case is `Conflict { field: "email" }`.
    async fn create_user(&self, user: User) -> StoreResult<User>;
    async fn get_user(&self, id: &str) -> StoreResult<User>;
    /// The user with this email, in any case.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<User>;
    /// Replaces a user if `version` still matches (else `Conflict { field: "version" }`);
    /// the stored version is advanced.
    async fn update_user(&self, user: User) -> StoreResult<User>;
    /// Every user, by email.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
}

/// The appliances of one installation ([`NodeRecord`]), one row per process life (node
/// id and epoch: during an upgrade the old and the new process of one box are both
/// there): heartbeats whose freshness the database's clock judges, and the one-time
/// declaration that a life is lost.
#[async_trait]
pub trait NodeStore {
    /// Registers a node's life with a fresh heartbeat (again: the same; a life declared
    /// lost stays lost).
    async fn register_node(&self, node: NodeRecord, ttl_ms: i64) -> StoreResult<()>;
    /// Renews the heartbeat of `id` at `epoch`; `false` once that life is over
    /// (declared lost, or removed).
    async fn heartbeat_node(&self, id: &str, epoch: &str, ttl_ms: i64) -> StoreResult<bool>;
    /// Every registered life, by id then start, alive or not.
    async fn list_nodes(&self) -> StoreResult<Vec<NodeStatus>>;
    /// Declares `id` at `epoch` lost at `at`, if its heartbeat is older than its ttl by
    /// the database's clock and nobody declared it already: `true` for exactly one
    /// caller, whose job it then is to end the epoch's calls.
    async fn claim_lost_node(&self, id: &str, epoch: &str, at: Millis) -> StoreResult<bool>;
    /// Removes `id` at `epoch` (a node that drained and stopped cleanly).
    async fn remove_node(&self, id: &str, epoch: &str) -> StoreResult<()>;
}

/// Recordings copied into the store while their calls go on, so any appliance serves
/// them (docs/cluster.md). Parts never overlap: each starts where the one before it
/// ended.
#[async_trait]
pub trait RecordingStore {
    /// Stores a part (again: the same part, unchanged).
    async fn put_recording_part(&self, part: RecordingPart) -> StoreResult<()>;
    /// The parts of `call_id`'s recording starting at data offset `from` or later, in
    /// order, at most `limit`.
    async fn recording_parts(
        &self,
        call_id: &str,
        from: u64,
        limit: usize,
    ) -> StoreResult<Vec<RecordingPart>>;
    /// Where the stored copy ends (the data offset past its last part); `None` when
    /// nothing of it was stored.
    async fn recording_stored_end(&self, call_id: &str) -> StoreResult<Option<u64>>;
    /// Deletes the parts stored before `cutoff` (recordings retention); how many.
    async fn delete_recording_parts_before(&self, cutoff: Millis) -> StoreResult<u64>;
}

#[async_trait]
pub trait Store:
    CustomerStore
    + DncStore
    + FieldDefStore
    + WebhookEventStore
    + AuditStore
    + AgentStore
    + CallStore
    + CampaignStore
    + DialerStore
    + ConsentStore
    + UserStore
    + AccessStore
    + RecordingStore
    + NodeStore
    + Send
    + Sync
{
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;
}

pub type SharedStore = Arc<dyn Store>;

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite { path: std::path::PathBuf },
    Mongo { uri: String },
}

/// Opens the configured store. SQLite migrates at once (an error is fatal: the disk is
/// ours); MongoDB only parses the URI here and creates its indexes on first use, so the
/// appliance starts, and reports not-ready, while MongoDB is down.
pub async fn open(config: &StoreConfig) -> StoreResult<SharedStore> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        StoreConfig::Mongo { uri } => Ok(Arc::new(mongo::MongoStore::lazy(uri, None).await?)),
    }
}

/// Removes the password from a MongoDB URI, for logs and errors.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_password_is_never_printed() {
        assert_eq!(
            redact_uri("mongodb://agent5:s3cr%40t@db1:27017,db2/agent5?replicaSet=rs0"),
            "mongodb://agent5:***@db1:27017,db2/agent5?replicaSet=rs0"
        );
        assert_eq!(
            redact_uri("mongodb://localhost/agent5"),
            "mongodb://localhost/agent5"
        );
    }
}
