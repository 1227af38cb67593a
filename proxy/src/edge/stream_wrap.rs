//! What the edge's stream wrappers ([`super::head_limit::HeadLimited`],
//! [`super::tls_accept::TlsConn`], [`super::rehome::Rehomed`]) share: writes go straight
//! to the wrapped stream; over a tokio stream, reads and the shutdown too.

/// Implements `tokio::io::AsyncWrite` for `$ty` by delegating to its `inner` field.
macro_rules! delegate_async_write {
    ($ty:ty) => {
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}

/// Implements `tokio::io::AsyncRead`, `tokio::io::AsyncWrite` and Pingora's `Shutdown`
/// for `$ty` by delegating to its `inner` field, a tokio stream.
macro_rules! delegate_tokio_io {
    ($ty:ty) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
            }
        }

        super::stream_wrap::delegate_async_write!($ty);

        #[async_trait::async_trait]
        impl pingora::protocols::Shutdown for $ty {
            async fn shutdown(&mut self) {
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.inner).await;
            }
        }
    };
}

pub(crate) use delegate_async_write;
pub(crate) use delegate_tokio_io;
