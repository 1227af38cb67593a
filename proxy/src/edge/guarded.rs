//! The connection layer around an [`Edge`]: each connection takes its place in the
//! connection caps (released when it closes), HTTPS connections get their TLS
//! handshake ([`TlsAccept`]), and HTTP/1.1 streams get their request heads capped ([`HeadLimited`]) before Pingora reads a byte. HTTP/2 connections are
//! capped by the h2 options instead ([`Edge`]'s `h2_options`).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;

use super::head_limit::HeadLimited;
use super::tls_accept::TlsAccept;
use super::Edge;

pub struct Guarded {
    edge: Arc<Edge>,
    /// The handshake for connections on the HTTPS listeners.
    tls: Option<TlsAccept>,
}

impl Guarded {
    pub fn new(edge: Edge, tls: Option<TlsAccept>) -> Self {
        Self {
            edge: Arc::new(edge),
            tls,
        }
    }
}

#[async_trait]
impl ServerApp for Guarded {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _slot = self.edge.shared.conns.arrived(peer, Instant::now());
        let stream = match &self.tls {
            Some(tls) if tls.wants(&stream) => tls.accept(stream).await?,
            _ => stream,
        };
        let stream: Stream = if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            stream
        } else {
            let limit = self.edge.shared.config.limits.head;
            Box::new(HeadLimited::new(stream, limit))
        };
        // Pingora's HTTP handling (h1 keep-alive loop or h2) runs to the connection's end.
        ServerApp::process_new(&self.edge, stream, shutdown).await
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(self.edge.as_ref()).await;
    }
}
