//! Connecting to the OpenAI Realtime endpoint: the configured URL, `Authorization:
//! Bearer`, nothing else (the GA protocol; the beta header is refused by the server).
//! tungstenite writes the upgrade request and checks the answer; the socket then runs
//! on the bridge's own framing ([`WsStream`]), with whatever the server sent right
//! behind its answer (`session.created` may share the first read): [`crate::ws::client`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::MaybeTlsStream;

use crate::ws::WsStream;

pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/realtime?model=gpt-realtime";

/// The longest message taken from the agent (its events are a few KiB; a session's
/// instructions echoed back the longest).
const MAX_AGENT_MESSAGE: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AgentConfig {
    pub url: String,
    pub api_key: String,
    pub model: String,
    pub transcription_model: String,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

pub type AgentSocket = WsStream<MaybeTlsStream<TcpStream>>;

/// Why the agent socket did not open (the text never holds the key).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad agent URL: {0}")]
    Url(String),
    #[error("the OpenAI key is not a valid header value")]
    Key,
    #[error("agent connect failed: {0}")]
    Failed(String),
    #[error("agent connect timed out")]
    Timeout,
}

/// Opens the agent socket.
pub async fn connect(config: &AgentConfig) -> Result<AgentSocket, ConnectError> {
    let mut request = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Url(e.to_string()))?;
    let auth = HeaderValue::from_str(&format!("Bearer {}", config.api_key))
        .map_err(|_| ConnectError::Key)?;
    request.headers_mut().insert("authorization", auth);
    match tokio::time::timeout(config.connect_timeout, open(request)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn open(request: Request) -> Result<AgentSocket, ConnectError> {
    let uri = request.uri();
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(ConnectError::Url("the scheme is not ws or wss".into())),
    };
    let host = uri
        .host()
        .ok_or_else(|| ConnectError::Url("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let failed = |e: std::io::Error| ConnectError::Failed(e.to_string());
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(failed)?;
    // No Nagle: audio chunks are small and must not wait for ACKs.
    tcp.set_nodelay(true).map_err(failed)?;
    let stream = if tls {
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| ConnectError::Url(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(failed)?;
        MaybeTlsStream::Rustls(tls)
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    let (socket, _) = crate::ws::client(request, stream, MAX_AGENT_MESSAGE)
        .await
        .map_err(|e| ConnectError::Failed(e.to_string()))?;
    Ok(socket)
}

/// The web's roots (webpki-roots, the set tokio-tungstenite used), built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(Arc::clone(config));
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::clone(CONFIG.get_or_init(|| Arc::new(config))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::Message;

    fn config(url: String) -> AgentConfig {
        AgentConfig {
            url,
            api_key: "sk-test".into(),
            model: "m".into(),
            transcription_model: "t".into(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// A server that answers the upgrade and sends its first event in the same write.
    #[tokio::test]
    async fn an_event_sent_with_the_answer_is_the_first_message() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/v1/realtime", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let header = |name: &str| {
                head.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            assert_eq!(header("authorization").as_deref(), Some("Bearer sk-test"));
            let key = header("sec-websocket-key").unwrap();
            let event = br#"{"type":"session.created"}"#;
            let mut answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            answer.extend_from_slice(&[0x81, event.len() as u8]);
            answer.extend_from_slice(event);
            s.write_all(&answer).await.unwrap();
            s
        });
        let mut socket = connect(&config(url)).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
        assert_eq!(
            first.expect("the event was not lost").unwrap().unwrap(),
            Message::text(r#"{"type":"session.created"}"#)
        );
        drop(server.await.unwrap());
    }

    #[test]
    fn the_tls_configuration_builds_with_the_web_roots() {
        let config = tls_config().unwrap();
        assert!(Arc::ptr_eq(&config, &tls_config().unwrap()), "built once");
    }

    #[tokio::test]
    async fn a_refused_upgrade_and_a_bad_scheme_are_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/v1/realtime", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = [0u8; 2048];
            let _ = s.read(&mut b).await;
            let _ = s
                .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        assert!(matches!(
            connect(&config(url)).await,
            Err(ConnectError::Failed(_))
        ));
        assert!(matches!(
            connect(&config("http://example.invalid/".into())).await,
            Err(ConnectError::Url(_))
        ));
    }
}
