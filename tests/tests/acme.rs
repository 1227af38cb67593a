//! Built-in ACME against Let's Encrypt's test server, pebble (Debian package
//! `pebble`), on loopback: the appliance starts with a placeholder, registers an
//! account, answers the HTTP-01 challenge on its plaintext listener, installs the
//! certificate without a restart, and renews it when it is inside the renewal window.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use agent5_e2e::certs::TestCa;
use agent5_e2e::client::{self, empty, get};
use agent5_e2e::{agent5_bin, Appliance, Spec};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Pebble's certificates live 20 days; the appliance renews inside 30: every check
/// (each second here) renews, which is how the test sees a renewal.
const VALIDITY_SECS: u64 = 20 * 86_400;

struct Pebble {
    child: Child,
    management: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now (pebble cannot report the one it got).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe port")
        .port()
}

fn start_pebble(dir: &Path, ca: &TestCa, directory_port: u16, http_port: u16) -> Pebble {
    let leaf = ca.leaf(dir, "pebble", &["localhost"]);
    let management_port = free_port();
    let config = serde_json::json!({
        "pebble": {
            "listenAddress": format!("127.0.0.1:{directory_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": leaf.cert,
            "privateKey": leaf.key,
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": VALIDITY_SECS,
        }
    });
    let path = dir.join("pebble.json");
    std::fs::write(&path, config.to_string()).expect("pebble config");
    let child = Command::new("pebble")
        .arg("-config")
        .arg(&path)
        // No random 0-15 s validation delay, no deliberately rejected nonces.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdout(std::fs::File::create(dir.join("pebble.log")).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble (apt install pebble; make test installs it)");
    Pebble {
        child,
        management: SocketAddr::from(([127, 0, 0, 1], management_port)),
    }
}

/// Pebble's issuing root, from its management interface (up before its directory,
/// so certainly up once a certificate was issued).
async fn pebble_root(pebble: &Pebble, ca: &TestCa) -> CertificateDer<'static> {
    let v12_13 = &[&rustls::version::TLS13, &rustls::version::TLS12][..];
    let tls = client::tls(
        pebble.management,
        ca.client_config(&[b"http/1.1"], v12_13),
        "localhost",
    )
    .await
    .expect("pebble management interface");
    let res = client::send(tls, get("/roots/0").body(empty()).expect("req")).await;
    assert_eq!(res.status, 200);
    CertificateDer::from_pem_slice(&res.body).expect("root PEM")
}

/// The leaf the appliance serves for `localhost`, verified against `root`.
async fn served_leaf(addr: SocketAddr, root: &CertificateDer<'static>) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = client::tls(addr, cfg, "localhost")
        .await
        .expect("the served certificate verifies against pebble's root");
    tls.get_ref().1.peer_certificates().expect("certs")[0].clone()
}

fn file_leaf(path: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(path)
        .expect("cert.pem")
        .next()
        .expect("a certificate")
        .expect("PEM")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_installs_and_renews_against_pebble() {
    let ca = TestCa::new();
    let directory_port = free_port();
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[metrics]\nlisten = \"\"\n\
         [auth]\ntokens = [\"acme-token-aaaaaaaaaaaa\"]\n\
         [tls]\nlisten = [\"127.0.0.1:0\"]\n\
         [tls.acme]\ndomains = [\"localhost\"]\ncontact = [\"mailto:ops@agent5.test\"]\n\
         directory_url = \"https://localhost:{directory_port}/dir\"\nca_bundle = \"pebble-ca.pem\"\n\
         check_interval_secs = 1\nretry_secs = 1\n"
    );
    let app = Appliance::start(Spec::new(agent5_bin!(), config).file("pebble-ca.pem", ca.pem()));
    let https = app.addr("https");
    let acme_dir = app.dir().join("data/acme");
    assert!(
        acme_dir.join("cert.placeholder").exists(),
        "placeholder first"
    );

    // Pebble validates HTTP-01 on the appliance's plaintext port, known only now.
    let pebble = start_pebble(app.dir(), &ca, directory_port, app.addr("http").port());
    let started = std::time::Instant::now();

    let issued = |v: &serde_json::Value| v["message"] == "ACME: certificate issued and installed";
    app.wait_count(1, issued);
    println!(
        "first certificate {:?} after pebble started",
        started.elapsed()
    );
    let root = pebble_root(&pebble, &ca).await;
    let first = file_leaf(&acme_dir.join("cert.pem"));
    assert!(!acme_dir.join("cert.placeholder").exists());
    // Installed by reload: the next handshake presents it (it may already be the
    // renewal, which also verifies against pebble's root).
    let served = served_leaf(https, &root).await;
    let now_on_file = file_leaf(&acme_dir.join("cert.pem"));
    assert!(
        served == first || served == now_on_file,
        "the issued certificate is served"
    );

    // Renewal: a later check finds it inside the window and replaces it.
    app.wait_count(3, issued);
    let renewed = served_leaf(https, &root).await;
    assert_ne!(renewed, first, "a renewed certificate is served");

    // The account is reused (one registration), secrets are owner-only, and the
    // challenge tokens are gone.
    let registered = app
        .log_json()
        .into_iter()
        .filter(|v| v["message"] == "ACME: account registered")
        .count();
    assert_eq!(registered, 1);
    assert_eq!(mode(&acme_dir), 0o700);
    assert_eq!(mode(&acme_dir.join("account.json")), 0o600);
    assert_eq!(mode(&acme_dir.join("key.pem")), 0o600);
    assert_eq!(
        std::fs::read_dir(acme_dir.join("http-01"))
            .expect("tokens dir")
            .count(),
        0
    );

    // Over HTTPS the API answers with the issued certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).expect("root");
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = client::tls(https, cfg, "localhost")
        .await
        .expect("handshake");
    let res = client::send(tls, get("/healthz").body(empty()).expect("req")).await;
    assert_eq!(res.status, 200);
    drop(pebble);
}
