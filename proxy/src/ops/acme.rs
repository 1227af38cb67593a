//! Built-in ACME (RFC 8555, HTTP-01) with `instant-acme`: a fresh box gets a
//! certificate for its domain with no certbot, and keeps it renewed.
//!
//! Everything lives under `<data_dir>/acme` (0700): `account.json` (the account key,
//! 0600), `cert.pem` and `key.pem` (0600), and `http-01/<token>` files that the
//! plaintext listeners serve at `/.well-known/acme-challenge/<token>`. The certificate
//! pair is one more entry of the TLS certificate table, so installing a new one is
//! the same reload SIGHUP does: the next handshake gets it, open connections keep
//! theirs. Until the first issuance the pair is a self-signed placeholder (marked by
//! `cert.placeholder`), so the HTTPS listener can start at once.
//!
//! A check runs at start and every `check_interval`: the certificate is (re)issued
//! when it is the placeholder, does not cover the configured names, or expires within
//! `renew_before`. A failed attempt is logged and counted, the running certificate
//! stays, and the next attempt comes after `retry`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};

use crate::config::AcmeConfig;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ACME server: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("{0}")]
    Order(String),
    #[error("placeholder certificate: {0}")]
    Placeholder(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AcmeError + '_ {
    move |source| AcmeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the ACME directory and, when no certificate is there yet, a self-signed
/// placeholder pair so the TLS listener can start before the first issuance.
pub fn prepare(cfg: &AcmeConfig) -> Result<(), AcmeError> {
    make_private_dir(&cfg.dir)?;
    make_private_dir(&cfg.dir.join("http-01"))?;
    let paths = cfg.cert_paths();
    if paths.cert.exists() && paths.key.exists() {
        return Ok(());
    }
    let mut params = rcgen::CertificateParams::new(cfg.domains.clone())
        .map_err(|e| AcmeError::Placeholder(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "agent5 ACME placeholder");
    let now = SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + Duration::from_secs(7 * 86_400)).into();
    let key = rcgen::KeyPair::generate().map_err(|e| AcmeError::Placeholder(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| AcmeError::Placeholder(e.to_string()))?;
    write_private(&paths.key, key.serialize_pem().as_bytes())?;
    write_private(&paths.cert, cert.pem().as_bytes())?;
    write_private(&placeholder_marker(cfg), b"")?;
    tracing::info!(domains = ?cfg.domains, "ACME: placeholder certificate until the first issuance");
    Ok(())
}

fn placeholder_marker(cfg: &AcmeConfig) -> PathBuf {
    cfg.dir.join("cert.placeholder")
}

/// What the periodic check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The certificate is good until `not_after` (Unix seconds).
    Current { not_after: i64 },
    /// A new certificate was issued and installed.
    Issued { not_after: i64 },
}

/// Why a certificate needs issuing now, or `None`.
pub fn renewal_reason(cfg: &AcmeConfig, now: i64) -> Option<String> {
    if placeholder_marker(cfg).exists() {
        return Some("no certificate issued yet".to_owned());
    }
    let current = match crate::tls::load_pair(&cfg.cert_paths()) {
        Ok(c) => c,
        Err(e) => return Some(format!("the current pair does not load ({e})")),
    };
    if let Some(missing) = cfg.domains.iter().find(|d| !current.names.contains(d)) {
        return Some(format!("the certificate does not cover {missing}"));
    }
    let left = current.not_after - now;
    let window = i64::try_from(cfg.renew_before.as_secs()).unwrap_or(i64::MAX);
    (left < window).then(|| format!("it expires in {} days", left.max(0) / 86_400))
}

/// The stored account, with the directory it belongs to.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory_url: String,
    credentials: AccountCredentials,
}

/// One ACME client for the configured names.
pub struct Acme {
    cfg: AcmeConfig,
}

impl Acme {
    pub fn new(cfg: AcmeConfig) -> Self {
        Self { cfg }
    }

    /// Issues a certificate if one is due; `install` is called after new files are in
    /// place (it reloads the certificate table) and returns the error to report.
    pub async fn check(
        &self,
        install: &(dyn Fn() -> Result<(), String> + Send + Sync),
    ) -> Result<Checked, AcmeError> {
        let now = unix_now();
        let Some(reason) = renewal_reason(&self.cfg, now) else {
            let not_after = crate::tls::load_pair(&self.cfg.cert_paths())
                .map(|c| c.not_after)
                .unwrap_or(0);
            return Ok(Checked::Current { not_after });
        };
        tracing::info!(domains = ?self.cfg.domains, reason, "ACME: ordering a certificate");
        let (cert_pem, key_pem) = self.order().await?;
        let paths = self.cfg.cert_paths();
        // Both files are staged, then renamed key first: a reload between the two
        // renames sees a mismatched pair and keeps the running table (and the explicit
        // reload below then installs the complete pair).
        let key_tmp = paths.key.with_extension("pem.new");
        let cert_tmp = paths.cert.with_extension("pem.new");
        write_private(&key_tmp, key_pem.as_bytes())?;
        write_private(&cert_tmp, cert_pem.as_bytes())?;
        std::fs::rename(&key_tmp, &paths.key).map_err(io_err(&paths.key))?;
        std::fs::rename(&cert_tmp, &paths.cert).map_err(io_err(&paths.cert))?;
        let marker = placeholder_marker(&self.cfg);
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(io_err(&marker))?;
        }
        install().map_err(AcmeError::Order)?;
        let not_after = crate::tls::load_pair(&paths)
            .map(|c| c.not_after)
            .map_err(|e| AcmeError::Order(e.to_string()))?;
        Ok(Checked::Issued { not_after })
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let path = self.cfg.dir.join("account.json");
        let builder = || match &self.cfg.ca_bundle {
            Some(ca) => Account::builder_with_root(ca),
            None => Account::builder(),
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<StoredAccount>(&text) {
                Ok(stored) if stored.directory_url == self.cfg.directory_url => {
                    return Ok(builder()?.from_credentials(stored.credentials).await?);
                }
                Ok(_) => tracing::info!("ACME: directory changed; registering a new account"),
                Err(e) => {
                    tracing::warn!(error = %e, "ACME: account.json unreadable; registering a new account")
                }
            }
        }
        let contact: Vec<&str> = self.cfg.contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.cfg.directory_url.clone(),
                None,
            )
            .await?;
        let stored = StoredAccount {
            directory_url: self.cfg.directory_url.clone(),
            credentials,
        };
        let json =
            serde_json::to_vec_pretty(&stored).map_err(|e| AcmeError::Order(e.to_string()))?;
        write_private(&path, &json)?;
        tracing::info!(account = account.id(), "ACME: account registered");
        Ok(account)
    }

    /// Runs one order to its certificate: (certificate chain PEM, private key PEM).
    async fn order(&self) -> Result<(String, String), AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .cfg
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let tokens_dir = self.cfg.dir.join("http-01");
        let mut tokens = Tokens(Vec::new());
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Order(format!(
                        "authorization for {} is {other:?}",
                        authz.identifier()
                    )))
                }
            }
            let name = authz.identifier().to_string();
            let mut challenge = authz.challenge(ChallengeType::Http01).ok_or_else(|| {
                AcmeError::Order(format!("no http-01 challenge offered for {name}"))
            })?;
            let file = tokens_dir.join(&challenge.token);
            write_private(&file, challenge.key_authorization().as_str().as_bytes())?;
            tokens.0.push(file);
            challenge.set_ready().await?;
        }
        let patience = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(Duration::from_secs(90));
        let status = order.poll_ready(&patience).await?;
        if status != OrderStatus::Ready {
            let why = order
                .state()
                .error
                .as_ref()
                .map_or_else(|| format!("{status:?}"), |p| p.to_string());
            return Err(AcmeError::Order(format!(
                "the order did not become ready: {why}"
            )));
        }
        let key_pem = order.finalize().await?;
        let cert_pem = order.poll_certificate(&patience).await?;
        drop(tokens);
        Ok((cert_pem, key_pem))
    }
}

/// Challenge token files, removed when the order is over (whatever its outcome).
struct Tokens(Vec<PathBuf>);

impl Drop for Tokens {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The renewal loop: checks now, then every `check_interval` (or `retry` after a
/// failure), until the process ends.
pub async fn run(
    cfg: AcmeConfig,
    orders: prometheus::IntCounterVec,
    install: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
) {
    let acme = Acme::new(cfg);
    loop {
        let wait = match acme.check(install.as_ref()).await {
            Ok(Checked::Current { not_after }) => {
                tracing::debug!(not_after, "ACME: certificate current");
                acme.cfg.check_interval
            }
            Ok(Checked::Issued { not_after }) => {
                orders.with_label_values(&["issued"]).inc();
                tracing::info!(domains = ?acme.cfg.domains, not_after, "ACME: certificate issued and installed");
                acme.cfg.check_interval
            }
            Err(e) => {
                orders.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, retry_secs = acme.cfg.retry.as_secs(), "ACME: attempt failed; the running certificate stays");
                acme.cfg.retry
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn make_private_dir(dir: &Path) -> Result<(), AcmeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))
}

/// Writes a file readable by its owner only (keys, account, tokens).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> AcmeConfig {
        AcmeConfig {
            domains: vec!["agent5.example.com".to_owned()],
            contact: Vec::new(),
            directory_url: "https://acme.invalid/directory".to_owned(),
            ca_bundle: None,
            renew_before: Duration::from_secs(30 * 86_400),
            check_interval: Duration::from_secs(3600),
            retry: Duration::from_secs(60),
            dir: dir.join("acme"),
        }
    }

    #[test]
    fn placeholder_loads_and_asks_for_issuance() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cfg = cfg(tmp.path());
        prepare(&cfg).expect("prepare");
        let pair = crate::tls::load_pair(&cfg.cert_paths()).expect("placeholder loads");
        assert_eq!(pair.names, vec!["agent5.example.com".to_owned()]);
        assert_eq!(
            renewal_reason(&cfg, unix_now()).as_deref(),
            Some("no certificate issued yet")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg.cert_paths().key)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&cfg.dir)
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // A second start keeps the pair it has.
        let before = std::fs::read(&cfg.cert_paths().cert).expect("cert");
        prepare(&cfg).expect("again");
        assert_eq!(std::fs::read(&cfg.cert_paths().cert).expect("cert"), before);
    }

    #[test]
    fn renewal_is_due_inside_the_window_or_for_other_names() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut cfg = cfg(tmp.path());
        prepare(&cfg).expect("prepare");
        std::fs::remove_file(placeholder_marker(&cfg)).expect("pretend it was issued");
        // The placeholder lives 7 days: inside a 30-day window, outside a 1-day one.
        let now = unix_now();
        assert!(renewal_reason(&cfg, now)
            .is_some_and(|r| r.contains("expires in 6 days") || r.contains("expires in 7 days")));
        cfg.renew_before = Duration::from_secs(86_400);
        assert_eq!(renewal_reason(&cfg, now), None);
        cfg.domains.push("other.example.com".to_owned());
        assert!(renewal_reason(&cfg, now).is_some_and(|r| r.contains("other.example.com")));
    }
}
