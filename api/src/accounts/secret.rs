//! Secrets handed out once: session cookie values and API tokens. Each is 32 random
//! bytes from the OS generator, URL-safe base64 without padding (`A-Z a-z 0-9 - _`
//! only, so a token also works as a WebSocket subprotocol value); only their SHA-256
//! is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// What every API token starts with.
pub const TOKEN_PREFIX: &str = "a5_";
/// Characters of a token kept visible in lists (`a5_` and 8 more).
pub const VISIBLE: usize = 11;
/// Length of 32 bytes in unpadded base64.
const ENCODED_LEN: usize = 43;

fn random_text() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new session cookie value.
pub fn new_session_id() -> String {
    random_text()
}

/// A new API token: `a5_` and 43 URL-safe characters.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_text())
}

/// The SHA-256 of a secret (what the check cache is keyed by).
pub fn digest_bytes(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex SHA-256: the form secrets are stored and looked up in.
pub fn digest(secret: &str) -> String {
    hex(&digest_bytes(secret))
}

fn well_formed(body: &str) -> bool {
    body.len() == ENCODED_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Shaped like a session id (anything else is refused before the store is asked).
pub fn is_session_id(value: &str) -> bool {
    well_formed(value)
}

/// Shaped like an API token.
pub fn is_token(value: &str) -> bool {
    value.strip_prefix(TOKEN_PREFIX).is_some_and(well_formed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_unique_and_recognised() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let t = new_token();
            assert!(is_token(&t), "{t}");
            assert!(!t.contains(['/', '+', '=']), "{t}");
            assert_eq!(t.len(), 46);
            assert!(seen.insert(t));
            let s = new_session_id();
            assert!(is_session_id(&s) && !is_token(&s));
        }
        assert!(!is_token("a5_short"));
        assert!(!is_token(&format!("a5_{}", "+".repeat(43))));
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
