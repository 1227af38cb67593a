//! Request ids: keep a sane incoming `x-request-id` (so a trace spans the client, a
//! load balancer and us), otherwise mint a random one. Echoed on every response.

use http::HeaderName;

/// Built once: a `&str` name is parsed and hashed again on every use.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
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

/// Lowercase hex digits by value (request ids, the access log's `\u00XX` escapes).
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// 32 lowercase hex digits of a fresh random 128-bit number.
pub fn generate() -> String {
    let n: u128 = rand::random();
    let mut id = [0u8; 32];
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX_DIGITS[((n >> ((31 - i) * 4)) & 0xf) as usize];
    }
    // Hex digits are ASCII: never the empty default.
    String::from_utf8(id.to_vec()).unwrap_or_default()
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

    #[test]
    fn minted_ids_are_32_hex_digits_with_every_digit_used() {
        let mut seen = [false; 16];
        for _ in 0..64 {
            let id = generate();
            assert_eq!(id.len(), 32);
            for b in id.bytes() {
                let d = char::from(b).to_digit(16).expect("a hex digit");
                assert!(!b.is_ascii_uppercase());
                seen[d as usize] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
    }
}
