//! A cap on HTTP/1.1 request heads. Pingora reads a head of up to 1 MiB before it gives
//! up, so 2,000 connections sending slow, huge heads held 2 GB. Every HTTP/1.1 stream
//! is wrapped in [`HeadLimited`]: while a head is being read (the edge says when, per
//! request), reads stop at `limits.max_head_bytes`; the rest of the request (bodies,
//! WebSocket frames) passes untouched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::Stream;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, ReadBuf};

/// Where a connection is: reading a head (bytes left before the cap) or past it.
#[derive(Debug)]
pub struct HeadPhase {
    limit: usize,
    /// Bytes a head may still take; `usize::MAX` outside a head.
    left: AtomicUsize,
    exceeded: AtomicBool,
}

impl HeadPhase {
    /// A request head starts: it may take `limit` bytes.
    pub fn head(&self) {
        self.exceeded.store(false, Ordering::Relaxed);
        self.left.store(self.limit, Ordering::Relaxed);
    }

    /// The head is complete: what follows is not limited here.
    pub fn body(&self) {
        self.left.store(usize::MAX, Ordering::Relaxed);
    }

    /// Whether the last head hit the cap.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }
}

/// A Pingora stream whose request heads are capped.
#[derive(Debug)]
pub struct HeadLimited {
    inner: Stream,
    phase: Arc<HeadPhase>,
}

impl HeadLimited {
    /// Wraps `inner`; the first head starts at once.
    pub fn new(inner: Stream, limit: usize) -> Self {
        let phase = Arc::new(HeadPhase {
            limit,
            left: AtomicUsize::new(limit),
            exceeded: AtomicBool::new(false),
        });
        Self { inner, phase }
    }

    /// The stream under the cap.
    pub fn into_inner(self) -> Stream {
        self.inner
    }

    /// The phase of `stream` if it is a [`HeadLimited`].
    pub fn phase_of(stream: &Stream) -> Option<Arc<HeadPhase>> {
        stream
            .as_any()
            .downcast_ref::<Self>()
            .map(|h| Arc::clone(&h.phase))
    }
}

impl AsyncRead for HeadLimited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.phase.left.load(Ordering::Relaxed);
        if left == usize::MAX {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        if left == 0 {
            self.phase.exceeded.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head over limits.max_head_bytes",
            )));
        }
        if buf.remaining() <= left {
            // The reader's room is within the cap (Pingora's head buffer usually is):
            // read straight into it and count what arrived.
            let before = buf.filled().len();
            let read = Pin::new(&mut self.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = read {
                let got = buf.filled().len() - before;
                self.phase.left.fetch_sub(got, Ordering::Relaxed);
            }
            return read;
        }
        // Read no more than the head may still take, through a copy. The buffer is
        // zeroed on every call, so only the rare read that could pass the cap comes here.
        let mut tmp = [0u8; 8192];
        let n = left.min(buf.remaining()).min(tmp.len());
        let mut limited = ReadBuf::new(&mut tmp[..n]);
        match Pin::new(&mut self.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let got = limited.filled();
                buf.put_slice(got);
                self.phase.left.fetch_sub(got.len(), Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

super::stream_wrap::delegate_async_write!(HeadLimited);

#[async_trait]
impl Shutdown for HeadLimited {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for HeadLimited {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeadLimited {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeadLimited {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> std::time::Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> std::time::Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeadLimited {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for HeadLimited {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for HeadLimited {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn heads_stop_at_the_limit_and_bodies_do_not() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut s = HeadLimited::new(Box::new(server), 100);
        let phase = HeadLimited::phase_of(
            &(Box::new(HeadLimited::new(Box::new(tokio::io::duplex(1).0), 1)) as Stream),
        );
        assert!(phase.is_some(), "found through the Stream");
        let mut client = client;
        client.write_all(&[b'a'; 300]).await.expect("write");
        let mut buf = vec![0u8; 300];
        let mut got = 0;
        let err = loop {
            match s.read(&mut buf[got..]).await {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(got, 100);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(s.phase.exceeded());
        // Past the head, everything flows.
        s.phase.body();
        let mut rest = vec![0u8; 200];
        s.read_exact(&mut rest).await.expect("body");
        // The next request's head has its own allowance.
        s.phase.head();
        assert!(!s.phase.exceeded());
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let n = s.read(&mut buf).await.expect("head");
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn small_reads_go_straight_through_and_still_count_toward_the_limit() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut s = HeadLimited::new(Box::new(server), 100);
        client.write_all(&[b'h'; 150]).await.expect("write");
        // Each read has room for 30 bytes, under what the head may still take until
        // the fourth: 30 + 30 + 30 + 10, then the cap.
        let mut sizes = Vec::new();
        let err = loop {
            let mut buf = [0u8; 30];
            match s.read(&mut buf).await {
                Ok(n) => {
                    assert!(buf[..n].iter().all(|b| *b == b'h'));
                    sizes.push(n);
                }
                Err(e) => break e,
            }
        };
        assert_eq!(sizes, [30, 30, 30, 10]);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(s.phase.exceeded());
    }
}
