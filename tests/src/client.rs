//! Minimal real clients: HTTP/1.1 and HTTP/2 over any stream (TCP, Unix, TLS) with
//! hyper, and WebSockets with tokio-tungstenite.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn get(path: &str) -> http::request::Builder {
    Request::get(path).header("host", "agent5.test")
}

/// Sends one HTTP/1.1 request on a fresh connection.
pub async fn send<S>(stream: S, req: Request<Full<Bytes>>) -> Reply
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("request");
    collect(res).await
}

/// Sends one HTTP/2 request on a fresh connection.
pub async fn send_h2<S>(stream: S, req: Request<Full<Bytes>>) -> Reply
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("request");
    collect(res).await
}

async fn collect(res: http::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn tcp(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

pub async fn unix(path: &Path) -> UnixStream {
    UnixStream::connect(path).await.expect("connect unix")
}

pub async fn tls(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).expect("server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
}

/// A WebSocket opened on the Unix socket `sock` at `path_and_query`, with
/// `Authorization: Bearer <token>` (none when `token` is `None`); the handshake's
/// error (with the refusal's status) when it is refused.
pub async fn websocket(
    sock: &Path,
    path_and_query: &str,
    token: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<UnixStream>, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://agent5.test{path_and_query}").into_client_request()?;
    if let Some(token) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    Ok(tokio_tungstenite::client_async(req, unix(sock).await)
        .await?
        .0)
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

pub fn body(b: impl Into<Bytes>) -> Full<Bytes> {
    Full::new(b.into())
}
