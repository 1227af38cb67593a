//! A throw-away CA and leaf certificates for TLS tests.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::CertificateDer;

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate as PEM: chain (leaf + CA), key, and the leaf's DER.
pub struct LeafPem {
    pub chain: String,
    pub key: String,
    pub der: CertificateDer<'static>,
}

pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "agent5 test CA");
        let key = KeyPair::generate().expect("key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca"),
        }
    }

    /// The CA certificate as PEM (for clients given a CA file).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf for `sans`, signed by this CA.
    pub fn leaf_pem(&self, sans: &[&str]) -> LeafPem {
        let names: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let params = CertificateParams::new(names).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        LeafPem {
            chain: format!("{}{}", cert.pem(), self.issuer.pem()),
            key: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// Writes `<name>.crt` (leaf + CA) and `<name>.key` into `dir`.
    pub fn leaf(&self, dir: &Path, name: &str, sans: &[&str]) -> Leaf {
        let pem = self.leaf_pem(sans);
        let leaf = Leaf {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            der: pem.der,
        };
        std::fs::write(&leaf.cert, pem.chain).expect("write");
        std::fs::write(&leaf.key, pem.key).expect("write");
        leaf
    }

    pub fn client_config(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der()).expect("root");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }
}
