//! The TLS handshake on the HTTPS listeners, done by the edge rather than by Pingora:
//! Pingora 0.9's rustls settings cannot make the server choose the cipher suite
//! (testssl.sh: "NOT a cipher order configured") and hold a connection that never sends
//! a ClientHello for a fixed 60 s. Here rustls picks the strongest suite both sides
//! support (`ignore_client_order`), the whole handshake must finish within
//! `server.header_timeout_secs`, and the certificate comes from the same SNI resolver
//! (reloaded live). The result is handed to Pingora as a [`Stream`] that reports its
//! TLS facts ([`Ssl`]), so HTTP/2 is chosen by ALPN exactly as before.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio_rustls::server::TlsStream;

use crate::tls::{CertStore, SniResolver};

pub struct TlsAccept {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The TCP ports of the HTTPS listeners.
    ports: HashSet<u16>,
    timeout: Duration,
}

impl TlsAccept {
    /// TLS 1.3 and 1.2 (rustls's AEAD suites with forward secrecy only), the server's
    /// order, ALPN `h2` then `http/1.1`, certificates from `store`.
    pub fn new(
        store: CertStore,
        ports: HashSet<u16>,
        timeout: Duration,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver(store)));
        config.ignore_client_order = true;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ports,
            timeout,
        })
    }

    /// Whether `stream` arrived on an HTTPS listener.
    pub fn wants(&self, stream: &Stream) -> bool {
        stream
            .get_socket_digest()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).map(|a| a.port()))
            .is_some_and(|port| self.ports.contains(&port))
    }

    /// The handshake, bounded in time; `None` when it failed or took too long.
    pub async fn accept(&self, stream: Stream) -> Option<Stream> {
        let tls = tokio::time::timeout(self.timeout, self.acceptor.accept(stream))
            .await
            .ok()?
            .ok()?;
        Some(Box::new(TlsConn::new(tls)))
    }
}

/// An accepted TLS connection, as Pingora sees a stream.
#[derive(Debug)]
pub struct TlsConn {
    inner: TlsStream<Stream>,
    digest: Arc<SslDigest>,
    alpn: Option<ALPN>,
}

impl TlsConn {
    fn new(inner: TlsStream<Stream>) -> Self {
        let conn = inner.get_ref().1;
        let cipher = conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown");
        let version = conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        let alpn = match conn.alpn_protocol() {
            Some(b"h2") => Some(ALPN::H2),
            Some(b"http/1.1") => Some(ALPN::H1),
            _ => None,
        };
        let digest = SslDigest::new(
            Cow::Owned(cipher.to_owned()),
            Cow::Owned(version.to_owned()),
            None,
            None,
            Vec::new(),
        );
        Self {
            inner,
            digest: Arc::new(digest),
            alpn,
        }
    }

    /// The transport under rustls.
    pub fn transport(&self) -> &Stream {
        self.inner.get_ref().0
    }

    /// The transport under rustls, to replace (see [`super::rehome`]).
    pub fn transport_mut(&mut self) -> &mut Stream {
        self.inner.get_mut().0
    }
}

super::stream_wrap::delegate_tokio_io!(TlsConn);

impl UniqueID for TlsConn {
    fn id(&self) -> UniqueIDType {
        self.transport().id()
    }
}

impl Ssl for TlsConn {
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        Some(Arc::clone(&self.digest))
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.alpn.clone()
    }
}

impl GetTimingDigest for TlsConn {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.transport().get_timing_digest()
    }
}

impl GetProxyDigest for TlsConn {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.transport().get_proxy_digest()
    }
}

impl GetSocketDigest for TlsConn {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.transport().get_socket_digest()
    }
}

#[async_trait]
impl Peek for TlsConn {}
