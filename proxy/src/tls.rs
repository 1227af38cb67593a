//! Certificates: loading PEM pairs, choosing one by SNI, and swapping them live.
//!
//! [`CertStore`] is the rustls cert resolver Pingora's TLS listeners use. Its table is
//! behind an `ArcSwap`, so a reload (SIGHUP, file change, ACME renewal) replaces every
//! certificate at once for the next handshake while open connections keep theirs. A
//! pair that fails to load leaves the previous table in place.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;

use crate::config::CertPaths;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// One loaded certificate: the chain + key rustls serves, and what we know about it.
#[derive(Clone)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// DNS names from the subject alternative names (lower case), or the CN.
    pub names: Vec<String>,
    /// `notAfter` as a Unix timestamp.
    pub not_after: i64,
    pub source: PathBuf,
}

impl fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCert")
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Loads and checks one PEM chain + key pair.
pub fn load_pair(paths: &CertPaths) -> Result<LoadedCert, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let invalid = |p: &Path, problem: String| TlsError::Invalid {
        path: p.to_path_buf(),
        problem,
    };
    let cert_pem = read(&paths.cert)?;
    let key_pem = read(&paths.key)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&paths.cert, format!("not PEM certificates: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(invalid(&paths.cert, "no certificate in the file".into()));
    };
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| invalid(&paths.key, format!("not a PEM private key: {e}")))?
        .ok_or_else(|| invalid(&paths.key, "no private key in the file".into()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| invalid(&paths.key, format!("unsupported private key: {e}")))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| invalid(&paths.cert, format!("unreadable certificate: {e}")))?;
    let mut names: Vec<String> = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(
            parsed
                .subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let not_after = parsed.validity().not_after.timestamp();
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        invalid(
            &paths.key,
            format!("does not belong to {}: {e}", paths.cert.display()),
        )
    })?;
    Ok(LoadedCert {
        key: Arc::new(certified),
        names,
        not_after,
        source: paths.cert.clone(),
    })
}

/// Certificates by name; the first loaded answers clients without (or with unknown) SNI.
#[derive(Debug)]
pub struct CertTable {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    certs: Vec<LoadedCert>,
}

impl CertTable {
    pub fn new(certs: Vec<LoadedCert>) -> Result<Self, &'static str> {
        if certs.is_empty() {
            return Err("no certificate");
        }
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, c) in certs.iter().enumerate() {
            for name in &c.names {
                match name.strip_prefix("*.") {
                    Some(suffix) => wildcard.entry(suffix.to_owned()).or_insert(i),
                    None => exact.entry(name.clone()).or_insert(i),
                };
            }
        }
        Ok(Self {
            exact,
            wildcard,
            certs,
        })
    }

    pub fn load(paths: &[CertPaths]) -> Result<Self, TlsError> {
        let certs = paths.iter().map(load_pair).collect::<Result<Vec<_>, _>>()?;
        Self::new(certs).map_err(|p| TlsError::Invalid {
            path: PathBuf::from("tls.certificates"),
            problem: p.to_owned(),
        })
    }

    pub fn select(&self, server_name: Option<&str>) -> &LoadedCert {
        let found = server_name.and_then(|name| {
            let name = name.to_ascii_lowercase();
            self.exact.get(&name).copied().or_else(|| {
                name.split_once('.')
                    .and_then(|(_, parent)| self.wildcard.get(parent).copied())
            })
        });
        &self.certs[found.unwrap_or(0)]
    }

    /// Every name the certificates cover, the default certificate's first.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for n in self.certs.iter().flat_map(|c| &c.names) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }

    pub fn certs(&self) -> &[LoadedCert] {
        &self.certs
    }
}

/// The live, swappable certificate table.
#[derive(Debug, Clone)]
pub struct CertStore {
    table: Arc<ArcSwap<CertTable>>,
}

impl CertStore {
    pub fn new(table: CertTable) -> Self {
        Self {
            table: Arc::new(ArcSwap::from_pointee(table)),
        }
    }

    /// Replaces every certificate at once; on error the old table stays.
    pub fn reload(&self, paths: &[CertPaths]) -> Result<(), TlsError> {
        let table = CertTable::load(paths)?;
        self.table.store(Arc::new(table));
        Ok(())
    }

    pub fn current(&self) -> Arc<CertTable> {
        self.table.load_full()
    }
}

/// The resolver handed to rustls (a newtype, so the store itself stays cloneable).
#[derive(Debug)]
pub struct SniResolver(pub CertStore);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.0.table.load();
        Some(table.select(hello.server_name()).key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str, sans: &[&str]) -> CertPaths {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let paths = CertPaths {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&paths.cert, cert.pem()).expect("write");
        std::fs::write(&paths.key, key.serialize_pem()).expect("write");
        paths
    }

    #[test]
    fn sni_picks_exact_wildcard_then_default() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = write_pair(dir.path(), "a", &["a.example.com"]);
        let b = write_pair(dir.path(), "b", &["*.b.example.com", "b.example.com"]);
        let table = CertTable::load(&[a, b]).expect("load");
        assert_eq!(
            table.select(Some("a.example.com")).names,
            vec!["a.example.com"]
        );
        assert_eq!(
            table.select(Some("B.example.com")).source,
            dir.path().join("b.crt")
        );
        assert_eq!(
            table.select(Some("x.b.example.com")).source,
            dir.path().join("b.crt")
        );
        assert_eq!(
            table.select(Some("y.x.b.example.com")).source,
            dir.path().join("a.crt")
        );
        assert_eq!(table.select(None).source, dir.path().join("a.crt"));
        assert!(table.select(None).not_after > 1_700_000_000);
        let metrics = crate::metrics::Metrics::new().expect("metrics");
        metrics.record_certs(&table);
        assert_eq!(
            metrics
                .tls_cert_expiry
                .with_label_values(&["a.example.com"])
                .get(),
            table.select(None).not_after
        );
        assert_eq!(
            metrics
                .tls_cert_expiry
                .with_label_values(&["*.b.example.com"])
                .get(),
            table.select(Some("b.example.com")).not_after
        );
    }

    #[test]
    fn mismatched_or_missing_files_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = write_pair(dir.path(), "a", &["a.example.com"]);
        let b = write_pair(dir.path(), "b", &["b.example.com"]);
        let crossed = CertPaths {
            cert: a.cert.clone(),
            key: b.key.clone(),
        };
        let err = load_pair(&crossed).expect_err("mismatch");
        assert!(err.to_string().contains("b.key"), "{err}");
        let missing = CertPaths {
            cert: dir.path().join("nope.crt"),
            key: a.key.clone(),
        };
        assert!(load_pair(&missing)
            .expect_err("missing")
            .to_string()
            .contains("nope.crt"));
        std::fs::write(dir.path().join("junk.crt"), "junk").expect("write");
        let junk = CertPaths {
            cert: dir.path().join("junk.crt"),
            key: a.key,
        };
        assert!(load_pair(&junk)
            .expect_err("junk")
            .to_string()
            .contains("no certificate"));
    }

    #[test]
    fn failed_reload_keeps_the_old_table() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = write_pair(dir.path(), "a", &["a.example.com"]);
        let store = CertStore::new(CertTable::load(std::slice::from_ref(&a)).expect("load"));
        let bad = CertPaths {
            cert: dir.path().join("missing.crt"),
            key: a.key.clone(),
        };
        assert!(store.reload(&[bad]).is_err());
        assert_eq!(store.current().select(None).source, a.cert);
        let b = write_pair(dir.path(), "b", &["b.example.com"]);
        store.reload(std::slice::from_ref(&b)).expect("reload");
        assert_eq!(store.current().select(None).source, b.cert);
    }
}
