//! Request ids: keep a sane incoming `x-request-id` (so a trace spans the client, a
//! load balancer and us), otherwise mint a random one. Echoed on every response.

use std::fmt::Write;

pub const HEADER: &str = "x-request-id";
const MAX_LEN: usize = 128;

/// Returns the incoming id when it is 1..=128 characters of `[A-Za-z0-9._:-]`,
/// else a fresh 128-bit random hex id.
pub fn accept_or_generate(incoming: Option<&[u8]>) -> String {
    match incoming {
        Some(v) if is_sane(v) => String::from_utf8_lossy(v).into_owned(),
        _ => generate(),
    }
}

fn is_sane(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= MAX_LEN
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub fn generate() -> String {
    let n: u128 = rand::random();
    let mut s = String::with_capacity(32);
    let _ = write!(s, "{n:032x}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids() {
        assert_eq!(accept_or_generate(Some(b"abc-123_x.y:z")), "abc-123_x.y:z");
    }

    #[test]
    fn replaces_missing_or_hostile_ids() {
        for bad in [
            &b""[..],
            b"has space",
            b"inject\r\nx: y",
            &[b'a'; 129][..],
            b"\xff",
        ] {
            let id = accept_or_generate(Some(bad));
            assert_eq!(id.len(), 32, "{bad:?}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(accept_or_generate(None), accept_or_generate(None));
    }
}
