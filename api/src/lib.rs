//! The REST API, as an axum [`Router`] the edge drives as a tower service (no socket,
//! no loopback hop). Handlers return `Result<_, ApiError>`; [`ApiError`] is the only
//! place an error becomes a response.

pub mod access;
pub mod accounts;
mod audit;
pub mod background;
pub mod calls;
pub mod campaigns;
pub mod cluster;
pub mod consents;
pub mod csv_out;
pub mod dialer;
pub mod dnc;
pub mod http;
pub mod import;
pub mod integrations;
pub mod metrics;
pub mod model;
pub mod phone;
pub mod prospects;
pub mod store;
mod system;
pub mod time;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;

pub use http::ApiError;
use store::SharedStore;

/// What the handlers share, behind one `Arc`: axum clones the state for every request,
/// and a clone of the fields themselves (a path, a dozen `Arc`s) was 1.7% of an API
/// request's CPU.
#[derive(Clone)]
pub struct AppState(Arc<StateFields>);

impl std::ops::Deref for AppState {
    type Target = StateFields;

    fn deref(&self) -> &StateFields {
        &self.0
    }
}

/// The fields of [`AppState`] (read through it).
#[derive(Clone)]
pub struct StateFields {
    started: Instant,
    bridge: agent5_bridge::Bridge,
    store: SharedStore,
    /// Region national phone numbers are read in.
    region: phone::Region,
    /// Most data rows one upload may hold.
    import_max_rows: u64,
    telephony: Arc<calls::Telephony>,
    /// The webhook recorder and workers (absent until started on a runtime).
    webhooks: Option<integrations::telnyx::webhook::Pipeline>,
    /// Where call recordings are (`<call id>.wav`).
    recordings_dir: std::path::PathBuf,
    livekit: Option<Arc<integrations::livekit::LiveKit>>,
    /// Sessions, tokens and sign-in (shared with the edge, which authenticates).
    accounts: Arc<accounts::Accounts>,
    /// The campaign dialler (absent until started on a runtime).
    dialer: Option<Arc<dialer::Dialer>>,
    /// The other appliances' live calls (absent on a state built without one).
    directory: Option<Arc<cluster::Directory>>,
}

impl AppState {
    /// The fields, to set while the state is being built (copied if already shared).
    fn fields(&mut self) -> &mut StateFields {
        Arc::make_mut(&mut self.0)
    }

    /// Telnyx unconfigured: webhooks answer 503 and dialling `telnyx_not_configured`
    /// until [`AppState::with_telephony`].
    pub fn new(bridge: agent5_bridge::Bridge, store: SharedStore) -> Self {
        let telephony = calls::Telephony::new(
            Arc::clone(&store),
            calls::TelnyxSettings::default(),
            metrics::ApiMetrics::new(),
        )
        .map(Arc::new)
        .unwrap_or_else(|e| panic!("telephony without a client cannot fail: {e}"));
        Self(Arc::new(StateFields {
            started: Instant::now(),
            bridge,
            store: Arc::clone(&store),
            region: phone::Region::default(),
            import_max_rows: import::run::DEFAULT_MAX_ROWS,
            telephony,
            webhooks: None,
            recordings_dir: std::path::PathBuf::from("data/recordings"),
            livekit: None,
            accounts: Arc::new(accounts::Accounts::new(
                Arc::clone(&store),
                accounts::SessionSettings::default(),
            )),
            dialer: None,
            directory: None,
        }))
    }

    /// Starts the campaign dialler on `runtime` (after [`AppState::with_telephony`]: it
    /// dials through the same carrier client and call records).
    pub fn with_dialer(
        mut self,
        settings: dialer::DialerSettings,
        metrics: dialer::DialerMetrics,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let d = Arc::new(dialer::Dialer::new(
            Arc::clone(&self.store),
            Arc::clone(&self.telephony),
            Arc::new(dialer::SystemNow),
            settings,
            metrics,
        ));
        let bridge = self.bridge.clone();
        runtime.spawn(Arc::clone(&d).run_until(async move { bridge.draining().await }));
        self.fields().dialer = Some(d);
        self
    }

    pub fn dialer(&self) -> Option<&Arc<dialer::Dialer>> {
        self.dialer.as_ref()
    }

    /// The Monitor lists the other appliances' live calls from `directory` too.
    pub fn with_directory(mut self, directory: Arc<cluster::Directory>) -> Self {
        self.fields().directory = Some(directory);
        self
    }

    /// The accounts service the edge authenticates with (the same instance, so a
    /// sign-out or a revocation is seen at once).
    pub fn with_accounts(mut self, accounts: Arc<accounts::Accounts>) -> Self {
        self.fields().accounts = accounts;
        self
    }

    pub fn accounts(&self) -> &Arc<accounts::Accounts> {
        &self.accounts
    }

    pub fn with_livekit(mut self, livekit: integrations::livekit::LiveKit) -> Self {
        self.fields().livekit = Some(Arc::new(livekit));
        self
    }

    pub fn with_recordings_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.fields().recordings_dir = dir;
        self
    }

    /// Configures Telnyx and starts the webhook pipeline on `runtime` (it must live as
    /// long as the router).
    pub fn with_telephony(
        mut self,
        settings: calls::TelnyxSettings,
        metrics: metrics::ApiMetrics,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, integrations::ClientError> {
        let telephony = Arc::new(calls::Telephony::new(
            Arc::clone(&self.store),
            settings,
            metrics,
        )?);
        self.fields().webhooks = Some(integrations::telnyx::webhook::Pipeline::start(
            Arc::clone(&telephony),
            runtime,
        ));
        self.fields().telephony = telephony;
        Ok(self)
    }

    pub fn telephony(&self) -> &Arc<calls::Telephony> {
        &self.telephony
    }

    pub fn with_import_max_rows(mut self, rows: u64) -> Self {
        self.fields().import_max_rows = rows;
        self
    }

    pub fn with_region(mut self, region: phone::Region) -> Self {
        self.fields().region = region;
        self
    }
}

/// The whole API: each domain's routes, merged.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(audit::routes())
        .merge(accounts::routes())
        .merge(prospects::routes())
        .merge(import::routes())
        .merge(dnc::routes())
        .merge(calls::routes())
        .merge(campaigns::routes())
        .merge(consents::routes())
        .merge(integrations::routes())
        .fallback(system::not_found)
        // Body sizes are enforced per route class at the edge (JSON 1 MiB, uploads
        // 50 MiB by default); axum's own 2 MB cap would cut uploads short.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}
