//! Upgraded sockets moved onto the runtime that serves them.
//!
//! Pingora runs one single-threaded runtime per thread (`work_stealing = false`) and
//! serves each accepted connection on one of them chosen at random, while the socket
//! stays registered with the reactor of the runtime that accepted it. For a request
//! that is a cross-thread wake-up or two; for a WebSocket carrying a call's audio it is
//! one for every frame, 50 a second each way, for minutes. [`rehome`] registers an
//! upgraded socket with the serving runtime's reactor (a duplicate of its descriptor;
//! the original closes) and leaves out the layers a WebSocket no longer needs: the
//! head cap and Pingora's read and write buffers. Under TLS only the transport under
//! rustls is replaced; the TLS session goes on as it was.
//!
//! Re-registering every connection instead cost the edge 8-17% of its requests a
//! second (a `dup`, an `fcntl` and two `epoll_ctl`s against a few requests per
//! connection), so only upgrades come here. Anything Pingora had read past the
//! upgrade request is lost either way ([`pingora::protocols::http::v1::server::HttpSession::into_inner`]
//! drops it); a WebSocket client sends nothing before the 101 (RFC 6455, 4.1).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, IO,
};

use super::head_limit::HeadLimited;
use super::tls_accept::TlsConn;

/// `stream` registered with the current runtime's reactor, without the head cap and
/// Pingora's buffers; `stream` as it was (less the head cap) when it is not a TCP
/// socket this knows or the descriptor cannot be duplicated. Call it after the
/// upgrade's response has been flushed and before the first read.
pub fn rehome(stream: Stream) -> Stream {
    let stream = match take::<HeadLimited>(stream) {
        Ok(limited) => limited.into_inner(),
        Err(stream) => stream,
    };
    match take::<TlsConn>(stream) {
        Ok(mut tls) => {
            let transport = tls.transport_mut();
            if let Some(socket) = Rehomed::from_stream(transport) {
                *transport = Box::new(socket);
            }
            tls
        }
        Err(stream) => match Rehomed::from_stream(&stream) {
            Some(socket) => Box::new(socket),
            None => stream,
        },
    }
}

/// The stream as a `T` if it is one, else the stream back.
fn take<T: IO + 'static>(stream: Stream) -> Result<Box<T>, Stream> {
    if !stream.as_any().is::<T>() {
        return Err(stream);
    }
    Ok(stream
        .into_any()
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("the type was checked above")))
}

/// A TCP socket registered with the runtime that created it, carrying the digests of
/// the stream it replaced.
#[derive(Debug)]
pub struct Rehomed {
    inner: tokio::net::TcpStream,
    socket_digest: Option<Arc<SocketDigest>>,
    timing: Vec<Option<TimingDigest>>,
    proxy_digest: Option<Arc<ProxyDigest>>,
}

impl Rehomed {
    /// A duplicate of `stream`'s socket when it is Pingora's TCP stream; the original
    /// closes when `stream` is dropped.
    fn from_stream(stream: &Stream) -> Option<Self> {
        let l4 = stream
            .as_any()
            .downcast_ref::<pingora::protocols::l4::stream::Stream>()?;
        let owned = duplicate(l4.as_raw_fd()).ok()?;
        let std = std::net::TcpStream::from(owned);
        // Pingora's stream may be a Unix socket (the internal listener can be one):
        // only an internet socket has an internet address.
        std.local_addr().ok()?;
        std.set_nonblocking(true).ok()?;
        let inner = tokio::net::TcpStream::from_std(std).ok()?;
        Some(Self {
            inner,
            socket_digest: stream.get_socket_digest(),
            timing: stream.get_timing_digest(),
            proxy_digest: stream.get_proxy_digest(),
        })
    }
}

/// A new descriptor for the socket behind `fd`.
#[allow(unsafe_code)]
fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: `fd` belongs to a stream the caller borrows for the whole of this call,
    // so it is open, and it is only used to make a duplicate the result owns.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned()
}

super::stream_wrap::delegate_tokio_io!(Rehomed);

impl UniqueID for Rehomed {
    fn id(&self) -> UniqueIDType {
        self.inner.as_raw_fd()
    }
}

impl Ssl for Rehomed {}

impl GetTimingDigest for Rehomed {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.timing.clone()
    }
}

impl GetProxyDigest for Rehomed {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.proxy_digest.clone()
    }
}

impl GetSocketDigest for Rehomed {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.socket_digest.clone()
    }
}

impl Peek for Rehomed {}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::edge::tls_accept::TlsAccept;
    use crate::tls::{CertStore, CertTable};

    /// Pingora's accepting runtime, stood in for by a runtime on a thread of its own:
    /// it accepts one connection on each listener, makes each what the edge holds
    /// after the handshake (Pingora's TCP stream, then TLS, in the head cap), hands
    /// them over, and is dropped when told.
    struct Elsewhere {
        streams: tokio::sync::oneshot::Receiver<Vec<Stream>>,
        drop_now: tokio::sync::oneshot::Sender<()>,
        dropped: tokio::sync::oneshot::Receiver<()>,
    }

    impl Elsewhere {
        fn accept(listeners: Vec<std::net::TcpListener>, tls: Option<TlsAccept>) -> Self {
            let (streams_tx, streams) = tokio::sync::oneshot::channel();
            let (drop_now, drop_rx) = tokio::sync::oneshot::channel();
            let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let streams = runtime.block_on(async {
                    let mut out = Vec::new();
                    for l in listeners {
                        let l = TcpListener::from_std(l).expect("listener");
                        let (tcp, _) = l.accept().await.expect("accept");
                        let mut l4 = pingora::protocols::l4::stream::Stream::from(tcp);
                        l4.set_socket_digest(SocketDigest::from_raw_fd(l4.as_raw_fd()));
                        let mut stream: Stream = Box::new(l4);
                        if let Some(tls) = &tls {
                            stream = tls.accept(stream).await.expect("handshake");
                        }
                        out.push(Box::new(HeadLimited::new(stream, 1024)) as Stream);
                    }
                    out
                });
                let _ = streams_tx.send(streams);
                // Its reactor keeps running (as Pingora's does) until told to stop.
                let _ = runtime.block_on(drop_rx);
                drop(runtime);
                let _ = dropped_tx.send(());
            });
            Self {
                streams,
                drop_now,
                dropped,
            }
        }

        async fn streams(&mut self) -> Vec<Stream> {
            (&mut self.streams).await.expect("streams")
        }

        /// Drops the accepting runtime, its reactor with it.
        async fn shut_down(self) {
            self.drop_now.send(()).expect("still running");
            self.dropped.await.expect("dropped");
        }
    }

    fn listener() -> std::net::TcpListener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        l
    }

    /// Bytes each way through `server` and the client end.
    async fn exchange(
        server: &mut Stream,
        client: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    ) -> io::Result<()> {
        client.write_all(b"ping").await?;
        client.flush().await?;
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await?;
        assert_eq!(&got, b"ping");
        server.write_all(b"pong").await?;
        server.flush().await?;
        client.read_exact(&mut got).await?;
        assert_eq!(&got, b"pong");
        Ok(())
    }

    #[tokio::test]
    async fn a_rehomed_socket_outlives_the_runtime_that_accepted_it() {
        // The second connection is the control: left with the accepting runtime.
        let (l, control) = (listener(), listener());
        let addrs = [
            l.local_addr().expect("addr"),
            control.local_addr().expect("addr"),
        ];
        let mut elsewhere = Elsewhere::accept(vec![l, control], None);
        let mut client = TcpStream::connect(addrs[0]).await.expect("connect");
        let mut control_client = TcpStream::connect(addrs[1]).await.expect("connect");
        let mut streams = elsewhere.streams().await;
        let mut control = streams.pop().expect("control");
        let stream = streams.pop().expect("stream");

        let mut moved = rehome(stream);
        assert!(
            moved.as_any().is::<Rehomed>(),
            "the head cap and Pingora's stream are gone"
        );
        assert!(
            moved.get_socket_digest().is_some(),
            "the digests come along"
        );
        elsewhere.shut_down().await;

        exchange(&mut moved, &mut client)
            .await
            .expect("the rehomed socket works");
        assert!(
            exchange(&mut control, &mut control_client).await.is_err(),
            "a socket left with the accepting runtime's reactor dies with it"
        );
        // Closing the rehomed stream closes the connection: no descriptor is left over.
        drop(moved);
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.expect("eof"), 0);
    }

    #[tokio::test]
    async fn under_tls_the_transport_moves_and_the_session_goes_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.agent5.test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let paths = crate::config::CertPaths {
            cert: dir.path().join("a.crt"),
            key: dir.path().join("a.key"),
        };
        std::fs::write(&paths.cert, cert.pem()).expect("write");
        std::fs::write(&paths.key, key.serialize_pem()).expect("write");
        let store = CertStore::new(CertTable::load(&[paths]).expect("load"));
        let l = listener();
        let addr = l.local_addr().expect("addr");
        let tls = TlsAccept::new(store, HashSet::from([addr.port()]), Duration::from_secs(5))
            .expect("tls");

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("a.agent5.test").expect("name");

        let mut elsewhere = Elsewhere::accept(vec![l], Some(tls));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut client = connector
            .connect(name, tcp)
            .await
            .expect("client handshake");
        let mut stream = elsewhere.streams().await.pop().expect("stream");
        // Bytes before the move, so the session is mid-flight when its transport changes.
        exchange(&mut stream, &mut client)
            .await
            .expect("before the move");

        let mut moved = rehome(stream);
        assert!(moved.get_ssl_digest().is_some(), "still the TLS stream");
        let tls_conn = moved
            .as_any()
            .downcast_ref::<TlsConn>()
            .expect("the TLS stream");
        assert!(
            tls_conn.transport().as_any().is::<Rehomed>(),
            "its transport rehomed"
        );
        elsewhere.shut_down().await;
        exchange(&mut moved, &mut client)
            .await
            .expect("after the move");
    }

    #[tokio::test]
    async fn a_unix_socket_is_left_in_pingoras_stream() {
        let (server, mut client) = tokio::net::UnixStream::pair().expect("pair");
        let l4 = pingora::protocols::l4::stream::Stream::from(server);
        let mut moved = rehome(Box::new(HeadLimited::new(Box::new(l4), 1024)));
        assert!(moved
            .as_any()
            .is::<pingora::protocols::l4::stream::Stream>());
        exchange(&mut moved, &mut client)
            .await
            .expect("still works");
    }

    #[tokio::test]
    async fn a_stream_it_does_not_know_is_left_as_it_is() {
        let (server, _client) = tokio::io::duplex(64);
        let moved = rehome(Box::new(HeadLimited::new(Box::new(server), 1024)));
        assert!(
            moved.as_any().is::<tokio::io::DuplexStream>(),
            "only the head cap is gone"
        );
    }
}
