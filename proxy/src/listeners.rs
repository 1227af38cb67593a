//! Binding the listening sockets ourselves, before Pingora starts.
//!
//! Pingora binds inside its service runtimes and cannot report the port it got for
//! `:0` (pingora#988), and a bind failure there is a panic. Binding here gives a clear
//! error naming the address, the real port for `:0` (tests use it), and a moment at
//! which we know every socket accepts connections. The sockets reach Pingora through
//! its listen-fd table, the same path a zero-downtime upgrade uses; in upgrade mode
//! the table already holds the old process's sockets and nothing is bound here.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use async_trait::async_trait;
use pingora::server::{ListenFds, ShutdownWatch};
use pingora::services::Service;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::ListenAddr;

const BACKLOG: i32 = 4096;

/// A socket bound and listening, not yet handed to Pingora.
#[derive(Debug)]
pub struct Bound {
    /// The address as bound (the real port for `:0`).
    pub addr: ListenAddr,
    fd: Option<Socket>,
}

impl Bound {
    /// Pingora's key for this listener (and the address string given to it).
    pub fn key(&self) -> String {
        key(&self.addr)
    }

    /// A socket taken over from the process being upgraded.
    pub fn inherited(addr: ListenAddr, fd: OwnedFd) -> Self {
        Self {
            addr,
            fd: Some(Socket::from(fd)),
        }
    }
}

/// The listen-fd table key for an address (what the upgrade hand-over matches on).
pub fn key(addr: &ListenAddr) -> String {
    match addr {
        ListenAddr::Tcp(a) => a.to_string(),
        ListenAddr::Unix(p) => p.display().to_string(),
    }
}

pub fn bind(addr: &ListenAddr) -> io::Result<Bound> {
    let socket = match addr {
        ListenAddr::Tcp(a) => bind_tcp(*a)?,
        ListenAddr::Unix(path) => {
            if path.exists() {
                // A stale socket from a previous run; a live one would refuse connect.
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another process is listening on this socket",
                    ));
                }
                std::fs::remove_file(path)?;
            }
            let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            s.bind(&socket2::SockAddr::unix(path)?)?;
            s.listen(BACKLOG)?;
            s
        }
    };
    socket.set_nonblocking(true)?;
    let addr = match addr {
        ListenAddr::Tcp(_) => ListenAddr::Tcp(
            socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?,
        ),
        unix => unix.clone(),
    };
    Ok(Bound {
        addr,
        fd: Some(socket),
    })
}

fn bind_tcp(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s)
}

/// A Pingora service whose sockets were bound by [`bind`].
pub struct Prebound<S> {
    inner: S,
    sockets: Vec<(String, RawFd)>,
}

impl<S> Prebound<S> {
    pub fn new(inner: S, bound: Vec<Bound>) -> Self {
        let sockets = bound
            .into_iter()
            .filter_map(|mut b| {
                let key = b.key();
                b.fd.take().map(|s| (key, s.into_raw_fd()))
            })
            .collect();
        Self { inner, sockets }
    }
}

#[async_trait]
impl<S: Service> Service for Prebound<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let Some(table) = &fds {
            let mut table = table.lock();
            for (key, fd) in self.sockets.drain(..) {
                if table.get(&key).is_none() {
                    table.add(key, fd);
                }
            }
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await;
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_reports_the_real_port() {
        let b = bind(&ListenAddr::Tcp("127.0.0.1:0".parse().expect("addr"))).expect("bind");
        let ListenAddr::Tcp(a) = b.addr else {
            panic!("tcp")
        };
        assert_ne!(a.port(), 0);
        assert_eq!(b.key(), a.to_string());
        std::net::TcpStream::connect(a).expect("accepts into the backlog");
    }

    #[test]
    fn busy_address_is_an_error() {
        let b = bind(&ListenAddr::Tcp("127.0.0.1:0".parse().expect("addr"))).expect("bind");
        let err = bind(&b.addr).expect_err("in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn stale_unix_socket_is_replaced_live_one_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        let live = bind(&ListenAddr::Unix(path.clone())).expect("stale file replaced");
        let err = bind(&ListenAddr::Unix(path)).expect_err("live socket");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(live);
    }
}
