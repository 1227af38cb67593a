//! Connecting to the OpenAI Realtime endpoint: the configured URL, `Authorization:
//! Bearer`, nothing else (the GA protocol; the beta header is refused by the server).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/realtime?model=gpt-realtime";

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

pub type AgentSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
    // No Nagle: audio chunks are small and must not wait for ACKs.
    let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(crate::SOCKET_READ_CHUNK);
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    match tokio::time::timeout(config.connect_timeout, connecting).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(ConnectError::Failed(e.to_string())),
        Err(_) => Err(ConnectError::Timeout),
    }
}
