//! Schema migrations, applied in order inside one transaction each and recorded in
//! `schema_migrations`. Never edit a released migration; append a new one.

use rusqlite::Connection;

use super::err;
use crate::model::now_millis;
use crate::store::StoreResult;

const MIGRATIONS: &[&str] = &[
    // 1: customers, derived contact rows, DNC, field definitions, webhook events, audit.
    // Contact rows and their tags are derived data, rebuilt by the code that writes the
    // customer in the same transaction (no per-row foreign-key checks on bulk imports).
    r"
    CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        upsert_key TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL,
        archived INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL
    );

    CREATE TABLE contacts (
        cid INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        company TEXT NOT NULL,
        email TEXT NOT NULL,
        phone TEXT,
        mobile TEXT,
        language TEXT NOT NULL,
        language_confirmed INTEGER NOT NULL,
        tags TEXT NOT NULL,
        opt_out INTEGER NOT NULL,
        archived INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        search TEXT NOT NULL,
        UNIQUE (customer_id, kind, code)
    );
    CREATE INDEX contacts_page ON contacts (kind, archived, updated_at DESC, customer_id, code);
    CREATE INDEX contacts_language ON contacts (kind, archived, language, updated_at DESC, customer_id, code);
    CREATE INDEX contacts_phone ON contacts (phone);
    CREATE INDEX contacts_mobile ON contacts (mobile);

    CREATE TABLE contact_tags (
        tag TEXT NOT NULL,
        cid INTEGER NOT NULL,
        PRIMARY KEY (tag, cid)
    ) WITHOUT ROWID;

    CREATE TABLE dnc (
        phone_e164 TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        source TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE prospect_field_defs (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        sort_order INTEGER NOT NULL,
        doc TEXT NOT NULL
    );

    CREATE TABLE webhook_events (
        event_id TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        payload TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_log_at ON audit_log (at DESC, seq DESC);
    ",
    // 2: agent profiles, calls and their transcript turns, campaigns and attempts.
    r"
    CREATE TABLE agent_profiles (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    );

    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        call_control_id TEXT UNIQUE,
        idempotency_key TEXT UNIQUE,
        status TEXT NOT NULL,
        phone TEXT NOT NULL,
        campaign_id TEXT,
        customer_id TEXT,
        started_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX calls_started ON calls (started_at DESC, id DESC);
    CREATE INDEX calls_status ON calls (status, started_at DESC);
    CREATE INDEX calls_phone ON calls (phone, started_at DESC);
    CREATE INDEX calls_campaign ON calls (campaign_id, started_at DESC);
    CREATE INDEX calls_customer ON calls (customer_id, started_at DESC);

    CREATE TABLE call_turns (
        call_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (call_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );

    CREATE TABLE call_attempts (
        id TEXT PRIMARY KEY,
        campaign_id TEXT NOT NULL,
        phone_e164 TEXT NOT NULL,
        attempt_no INTEGER NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (campaign_id, phone_e164, attempt_no)
    );
    ",
    // 3: the deliveries-only upload finds parents by invoice email, case-insensitively.
    r"
    CREATE INDEX contacts_invoice_email ON contacts (lower(email)) WHERE kind = 'invoice';
    ",
    // 4: webhook events stay pending until processed, so a crash between the 200 and
    // the processing is replayed at start-up. Events from before had no processor.
    r"
    ALTER TABLE webhook_events ADD COLUMN processed INTEGER NOT NULL DEFAULT 0;
    UPDATE webhook_events SET processed = 1;
    CREATE INDEX webhook_events_pending ON webhook_events (received_at) WHERE processed = 0;
    ",
    // 5: operator accounts, the email unique in any case, the document beside it.
    r"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email_lc TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    ",
    // 6: sessions and API tokens under the SHA-256 of their secret, added roles, and an
    // audit log that names the person, the client and the request.
    r"
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at DESC);
    CREATE TABLE roles (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    ALTER TABLE audit_log ADD COLUMN actor_id TEXT;
    ALTER TABLE audit_log ADD COLUMN client_ip TEXT;
    ALTER TABLE audit_log ADD COLUMN request_id TEXT;
    CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
    CREATE INDEX audit_log_action ON audit_log (action, at DESC);
    ",
    // 7: the prospect list sorted by name or company.
    r"
    CREATE INDEX contacts_name ON contacts (kind, archived, name, customer_id, code);
    CREATE INDEX contacts_company ON contacts (kind, archived, company, customer_id, code);
    ",
    // 8: the dialler: each campaign's dial list, its counters, leases, and attempts
    // found by campaign and start time, by state, and by phone.
    r"
    CREATE TABLE dial_entries (
        campaign_id TEXT NOT NULL,
        phone_e164 TEXT NOT NULL,
        state TEXT NOT NULL,
        next_at INTEGER,
        updated_at INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (campaign_id, phone_e164)
    );
    CREATE INDEX dial_entries_due ON dial_entries (campaign_id, state, next_at);
    CREATE INDEX dial_entries_updated ON dial_entries (campaign_id, state, updated_at);
    CREATE TABLE campaign_counters (
        campaign_id TEXT NOT NULL,
        name TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (campaign_id, name)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    ALTER TABLE call_attempts ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE call_attempts ADD COLUMN state TEXT NOT NULL DEFAULT 'ended';
    UPDATE call_attempts SET started_at = json_extract(doc, '$.started_at'),
        state = COALESCE(json_extract(doc, '$.state'), 'reserved');
    CREATE INDEX call_attempts_started ON call_attempts (campaign_id, started_at, id);
    CREATE INDEX call_attempts_state ON call_attempts (state, started_at);
    CREATE INDEX call_attempts_phone ON call_attempts (phone_e164, started_at);
    CREATE TABLE consents (
        phone_e164 TEXT PRIMARY KEY,
        revoked INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    ",
    // 9: the due query's whole order (next time, then phone) in its index: a pass
    // reads its first rows without sorting every entry that shares a next time.
    r"
    DROP INDEX dial_entries_due;
    CREATE INDEX dial_entries_due ON dial_entries (campaign_id, state, next_at, phone_e164);
    ",
    // 10: the appliances of the installation, one row per process life, with
    // heartbeats stamped by SQLite's clock; live calls found by their owner's epoch.
    r"
    CREATE TABLE nodes (
        id TEXT NOT NULL,
        epoch TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        ttl_ms INTEGER NOT NULL,
        lost_at INTEGER,
        doc TEXT NOT NULL,
        PRIMARY KEY (id, epoch)
    );
    ",
    // 11: recordings copied into the store as their calls go on (several appliances),
    // one row per part, keyed by where its bytes start in the recording's data.
    r"
    CREATE TABLE recording_parts (
        call_id TEXT NOT NULL,
        offset INTEGER NOT NULL,
        data BLOB NOT NULL,
        stored_at INTEGER NOT NULL,
        PRIMARY KEY (call_id, offset)
    ) WITHOUT ROWID;
    CREATE INDEX recording_parts_stored ON recording_parts (stored_at);
    ",
];

pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);",
    )
    .map_err(err)?;
    let applied: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if version <= applied {
            continue;
        }
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, now_millis()),
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(version, "store migration applied");
    }
    Ok(())
}
