//! The opening handshake (RFC 6455 section 4) by tungstenite, then the connection on
//! [`WsStream`]. While tungstenite reads the other side's head, the socket hands it
//! bytes only up to the head's blank line, so whatever was sent right behind it (a
//! server's first event may share the read with its 101) becomes the first frames.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Error;

use super::WsStream;

/// A head (the request or the 101) is refused past this length.
const MAX_HEAD: usize = 16 * 1024;

/// Opens a connection as the client over `io` (TLS, if any, already under it).
pub async fn client<S, R>(
    request: R,
    io: S,
    max_message: usize,
) -> Result<(WsStream<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: IntoClientRequest + Unpin,
{
    let (ws, response) = tokio_tungstenite::client_async(request, HeadOnly::new(io)).await?;
    let (io, leftover) = ws.into_inner().into_parts();
    Ok((
        WsStream::new(io, Role::Client, max_message, &leftover),
        response,
    ))
}

/// Answers a client's upgrade request read from `io`.
pub async fn accept<S>(io: S, max_message: usize) -> Result<WsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ws = tokio_tungstenite::accept_async(HeadOnly::new(io)).await?;
    let (io, leftover) = ws.into_inner().into_parts();
    Ok(WsStream::new(io, Role::Server, max_message, &leftover))
}

/// The socket while tungstenite reads a head: bytes only up to the head's end, so that
/// nothing sent after it stays in tungstenite's buffer when the socket is taken back
/// ([`HeadOnly::into_parts`]).
struct HeadOnly<S> {
    io: S,
    /// Bytes read from `io`; `buf[..given]` went to tungstenite.
    buf: Vec<u8>,
    given: usize,
    /// Where the head ends in `buf` (just past its blank line), once read.
    head_end: Option<usize>,
}

impl<S> HeadOnly<S> {
    fn new(io: S) -> Self {
        Self {
            io,
            buf: Vec::new(),
            given: 0,
            head_end: None,
        }
    }

    /// The socket and what was read past the head.
    fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buf[self.head_end.unwrap_or(self.given)..].to_vec();
        (self.io, rest)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadOnly<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            let limit = this.head_end.unwrap_or(this.buf.len());
            if this.given < limit {
                let n = (limit - this.given).min(out.remaining());
                out.put_slice(&this.buf[this.given..this.given + n]);
                this.given += n;
                return Poll::Ready(Ok(()));
            }
            if this.head_end.is_some() {
                // tungstenite has the whole head and reads no further.
                return Poll::Ready(Ok(()));
            }
            if this.buf.len() >= MAX_HEAD {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the handshake's head is too long",
                )));
            }
            let mut chunk = [0u8; 1024];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            let from = this.buf.len().saturating_sub(3);
            this.buf.extend_from_slice(read.filled());
            this.head_end = this.buf[from..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| from + i + 4);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadOnly<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
