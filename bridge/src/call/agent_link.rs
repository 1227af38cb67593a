//! The agent socket of one session, for the task around the call core: opening it (in
//! the background, while the phone rings), its `session.update` first, what waits for
//! it while it (re)connects, and reading its events. Whether to reconnect is the
//! core's decision ([`super::core::Input::AgentDown`] -> `Action::ConnectAgent`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::agent::client::{connect, AgentConfig, AgentSocket, ConnectError};
use crate::agent::{AgentIn, AgentOut};

/// Agent messages kept while its socket is (re)connecting (caller audio beyond this is
/// dropped; everything else is kept).
const AGENT_BACKLOG: usize = 256;

type Connecting = Pin<Box<dyn Future<Output = Result<AgentSocket, ConnectError>> + Send>>;

/// What happened on the agent side.
#[derive(Debug)]
pub enum AgentEvent {
    /// The socket is open (after `waited` connecting); call [`AgentLink::set_up`].
    Up {
        waited: std::time::Duration,
    },
    /// Opening it failed.
    Failed(ConnectError),
    Event(AgentIn),
    /// A message that is not an event we know.
    Unknown,
    /// The socket closed or broke.
    Dropped,
}

pub struct AgentLink {
    config: Option<AgentConfig>,
    /// The `session.update` sent first on every (re)connect.
    setup: AgentOut,
    socket: Option<AgentSocket>,
    connecting: Option<(Connecting, Instant)>,
    backlog: VecDeque<AgentOut>,
    /// Messages fed since the last flush.
    fed: bool,
}

impl AgentLink {
    /// `config`: `None` when no OpenAI key is configured (nobody speaks).
    pub fn new(config: Option<AgentConfig>, setup: AgentOut) -> Self {
        Self {
            config,
            setup,
            socket: None,
            connecting: None,
            backlog: VecDeque::new(),
            fed: false,
        }
    }

    pub fn is_configured(&self) -> bool {
        self.config.is_some()
    }

    /// Starts opening the socket (in the background: [`AgentLink::next`] reports it).
    pub fn connect(&mut self) {
        self.socket = None;
        if let Some(cfg) = self.config.clone() {
            self.connecting = Some((Box::pin(async move { connect(&cfg).await }), Instant::now()));
        }
    }

    /// The next thing that happens on the agent side (pending forever while there is
    /// no socket and none is being opened).
    pub async fn next(&mut self) -> AgentEvent {
        if let Some((connecting, since)) = self.connecting.as_mut() {
            let result = connecting.await;
            let waited = since.elapsed();
            self.connecting = None;
            return match result {
                Ok(socket) => {
                    self.socket = Some(socket);
                    AgentEvent::Up { waited }
                }
                Err(e) => AgentEvent::Failed(e),
            };
        }
        let Some(socket) = self.socket.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return match AgentIn::parse(&text) {
                        Ok(AgentIn::Other) | Err(_) => AgentEvent::Unknown,
                        Ok(event) => AgentEvent::Event(event),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    self.socket = None;
                    return AgentEvent::Dropped;
                }
            }
        }
    }

    /// After [`AgentEvent::Up`]: sends the setup, then what waited. A failed write is
    /// noticed (and reported as [`AgentEvent::Dropped`]) by the read side.
    pub async fn set_up(&mut self) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        let mut ok = socket
            .send(Message::text(self.setup.to_json()))
            .await
            .is_ok();
        while ok {
            let Some(m) = self.backlog.pop_front() else {
                break;
            };
            ok = socket.send(Message::text(m.to_json())).await.is_ok();
        }
    }

    /// Queues a message (sent at the next [`AgentLink::flush`]; kept while the socket
    /// is down, caller audio only up to the backlog limit).
    pub async fn feed(&mut self, out: AgentOut) {
        match self.socket.as_mut() {
            Some(s) => {
                self.fed = true;
                // A failed write is noticed by the read side.
                let _ = s.feed(Message::text(out.to_json())).await;
            }
            None => {
                if self.backlog.len() < AGENT_BACKLOG || !matches!(out, AgentOut::Append { .. }) {
                    self.backlog.push_back(out);
                }
            }
        }
    }

    pub async fn flush(&mut self) {
        if std::mem::take(&mut self.fed) {
            if let Some(s) = self.socket.as_mut() {
                let _ = s.flush().await;
            }
        }
    }

    /// A new setup (the call's codec changed): sent now when connected, and on every
    /// reconnect.
    pub async fn set_setup(&mut self, setup: AgentOut) {
        self.setup = setup;
        if let Some(s) = self.socket.as_mut() {
            let _ = s.send(Message::text(self.setup.to_json())).await;
        }
    }

    pub async fn close(mut self) {
        if let Some(mut s) = self.socket.take() {
            let _ = s.close(None).await;
        }
    }
}
