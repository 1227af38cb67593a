//! The client's IP for rate limits and logs: the socket peer, unless `TRUST_PROXY`
//! says which `X-Forwarded-For` hops to believe. Walking from the right, every hop we
//! trust is skipped; the first untrusted address is the client. A spoofed left-most
//! entry is therefore never believed.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::TrustProxy;

/// Key used for peers without an IP (Unix sockets).
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub fn resolve(peer: Option<IpAddr>, forwarded_for: Option<&str>, trust: &TrustProxy) -> IpAddr {
    let peer = peer.unwrap_or(LOCAL);
    let hops = || {
        forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .rev()
            .map(|h| h.trim().parse::<IpAddr>().ok())
    };
    match trust {
        TrustProxy::None => peer,
        TrustProxy::Hops(n) => {
            // The peer is hop 1; each further trusted hop consumes one XFF entry.
            let mut client = peer;
            for hop in hops().take(usize::from(*n)) {
                match hop {
                    Some(ip) => client = ip,
                    None => break,
                }
            }
            client
        }
        TrustProxy::Networks(nets) => {
            let trusted = |ip: &IpAddr| nets.iter().any(|n| n.contains(ip));
            if !trusted(&peer) {
                return peer;
            }
            let mut client = peer;
            for hop in hops() {
                match hop {
                    Some(ip) => {
                        client = ip;
                        if !trusted(&ip) {
                            break;
                        }
                    }
                    None => break,
                }
            }
            client
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn no_trust_uses_peer() {
        let got = resolve(Some(ip("192.0.2.9")), Some("1.2.3.4"), &TrustProxy::None);
        assert_eq!(got, ip("192.0.2.9"));
        assert_eq!(resolve(None, None, &TrustProxy::None), LOCAL);
    }

    #[test]
    fn hops_take_from_the_right() {
        let xff = Some("6.6.6.6, 203.0.113.5, 10.0.0.2");
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), xff, &TrustProxy::Hops(1)),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), xff, &TrustProxy::Hops(2)),
            ip("203.0.113.5")
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), None, &TrustProxy::Hops(1)),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), Some("garbage"), &TrustProxy::Hops(1)),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn networks_skip_trusted_hops_only() {
        let trust = TrustProxy::parse("10.0.0.0/8").expect("valid");
        let xff = Some("6.6.6.6, 203.0.113.5, 10.0.0.2");
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), xff, &trust),
            ip("203.0.113.5")
        );
        // An untrusted peer cannot inject a forwarded address.
        assert_eq!(
            resolve(Some(ip("198.51.100.1")), xff, &trust),
            ip("198.51.100.1")
        );
    }
}
