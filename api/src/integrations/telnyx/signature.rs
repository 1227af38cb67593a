//! Telnyx webhook signatures: Ed25519 over the exact bytes `timestamp|body`, the key
//! given as SPKI PEM or as the raw 32-byte key in base64, a tolerance on the timestamp
//! in both directions, and an injected clock so fixed test vectors verify. Every
//! malformed input is a rejection with a stable reason; nothing is accepted by default.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderMap;

pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// Telnyx's SDKs accept 300 s either way.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// A webhook body larger than this is refused before it is looked at.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 },
/// BIT STRING (0 unused bits) } followed by the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is neither base64 nor a PEM block")]
    Encoding,
    #[error("the PEM block is not an Ed25519 public key (SPKI)")]
    NotEd25519,
    #[error("an Ed25519 public key has 32 bytes, this one has {0}")]
    Length(usize),
    #[error("the 32 bytes are not a valid Ed25519 point")]
    Point,
}

/// The Telnyx account's webhook public key.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", STANDARD.encode(self.0.as_bytes()))
    }
}

impl PublicKey {
    /// `-----BEGIN PUBLIC KEY-----` SPKI PEM, or the portal's base64 of the raw key.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let raw = if text.starts_with("-----BEGIN") {
            let body: String = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----"))
                .collect();
            if !text.contains("BEGIN PUBLIC KEY") {
                return Err(KeyError::NotEd25519);
            }
            let der = STANDARD.decode(body).map_err(|_| KeyError::Encoding)?;
            der.strip_prefix(&SPKI_PREFIX[..])
                .ok_or(KeyError::NotEd25519)?
                .to_vec()
        } else {
            STANDARD.decode(text).map_err(|_| KeyError::Encoding)?
        };
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length(raw.len()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| KeyError::Point)
    }
}

/// Unix seconds now. Injected so tests can verify vectors signed in the past.
pub trait Clock: Send + Sync {
    fn now_unix(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0
    }
}

/// Why a webhook was refused. `reason()` is the metric label and log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingSignature,
    MissingTimestamp,
    DuplicateHeader,
    BadTimestamp,
    BadBase64,
    BadSignatureLength,
    BodyTooLarge,
    Stale,
    BadSignature,
    /// Verification is on but no public key is configured.
    NoKey,
}

impl Rejection {
    pub const ALL: [Rejection; 10] = [
        Self::MissingSignature,
        Self::MissingTimestamp,
        Self::DuplicateHeader,
        Self::BadTimestamp,
        Self::BadBase64,
        Self::BadSignatureLength,
        Self::BodyTooLarge,
        Self::Stale,
        Self::BadSignature,
        Self::NoKey,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::MissingTimestamp => "missing_timestamp",
            Self::DuplicateHeader => "duplicate_header",
            Self::BadTimestamp => "bad_timestamp",
            Self::BadBase64 => "bad_base64",
            Self::BadSignatureLength => "bad_signature_length",
            Self::BodyTooLarge => "body_too_large",
            Self::Stale => "stale_timestamp",
            Self::BadSignature => "bad_signature",
            Self::NoKey => "no_public_key",
        }
    }

    /// 400 for a request that is not shaped like a Telnyx webhook, 401 for one whose
    /// signature or timestamp does not hold, 413 for an oversized body, 503 when the
    /// appliance has no key to check with (Telnyx retries).
    pub fn status(self) -> u16 {
        match self {
            Self::Stale | Self::BadSignature => 401,
            Self::BodyTooLarge => 413,
            Self::NoKey => 503,
            _ => 400,
        }
    }
}

/// Checks webhook signatures.
#[derive(Clone)]
pub struct Verifier {
    key: Option<PublicKey>,
    tolerance_secs: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("key", &self.key)
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

fn one_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a [u8]>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::DuplicateHeader);
    }
    Ok(first.map(http::HeaderValue::as_bytes))
}

impl Verifier {
    pub fn new(key: Option<PublicKey>, tolerance_secs: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            key,
            tolerance_secs,
            clock,
        }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Verifies one delivery: the headers and the body exactly as received.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let signature = one_header(headers, SIGNATURE_HEADER)?;
        let timestamp = one_header(headers, TIMESTAMP_HEADER)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(Rejection::BodyTooLarge);
        }
        let signature = signature.ok_or(Rejection::MissingSignature)?;
        let timestamp = timestamp.ok_or(Rejection::MissingTimestamp)?;
        if timestamp.is_empty() || timestamp.len() > 12 || !timestamp.iter().all(u8::is_ascii_digit)
        {
            return Err(Rejection::BadTimestamp);
        }
        let seconds: i64 = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(Rejection::BadTimestamp)?;
        let raw = STANDARD
            .decode(signature.trim_ascii())
            .map_err(|_| Rejection::BadBase64)?;
        let raw: [u8; 64] = raw
            .as_slice()
            .try_into()
            .map_err(|_| Rejection::BadSignatureLength)?;
        let key = self.key.as_ref().ok_or(Rejection::NoKey)?;
        if self.clock.now_unix().abs_diff(seconds) > self.tolerance_secs {
            return Err(Rejection::Stale);
        }
        let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
        message.extend_from_slice(timestamp);
        message.push(b'|');
        message.extend_from_slice(body);
        key.0
            .verify_strict(&message, &Signature::from_bytes(&raw))
            .map_err(|_| Rejection::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs=";
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAjrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs=\n-----END PUBLIC KEY-----\n";
    const BODY: &str = "{\"event_type\":\"test\",\"id\":\"abc123\"}";
    const SIG: &str =
        "7o3u2izfEtn5PFPE0nDvo9y8RErRmfHM5wIO04wRV6VTNaq6RiLj1ehc7uMJuIMihJobi2u3HYyB1Ie61c2XCQ==";

    fn verifier(now: i64) -> Verifier {
        Verifier::new(
            Some(PublicKey::parse(PEM).expect("pem")),
            DEFAULT_TOLERANCE_SECS,
            Arc::new(FixedClock(now)),
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn both_key_forms_are_the_same_key() {
        let a = PublicKey::parse(RAW).expect("raw");
        let b = PublicKey::parse(PEM).expect("pem");
        assert_eq!(a.0, b.0);
        assert_eq!(PublicKey::parse("AAAA").err(), Some(KeyError::Length(3)));
        assert_eq!(
            PublicKey::parse("not base64!").err(),
            Some(KeyError::Encoding)
        );
        let rsa = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf\n-----END PUBLIC KEY-----";
        assert!(PublicKey::parse(rsa).is_err());
    }

    #[test]
    fn every_malformed_input_is_refused_with_its_reason() {
        let v = verifier(1_700_000_000);
        let ok = headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "1700000000")]);
        assert_eq!(v.verify(&ok, BODY.as_bytes()), Ok(()));
        let cases: Vec<(HeaderMap, &str, Rejection)> = vec![
            (
                headers(&[(TIMESTAMP_HEADER, "1700000000")]),
                BODY,
                Rejection::MissingSignature,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG)]),
                BODY,
                Rejection::MissingTimestamp,
            ),
            (
                headers(&[
                    (SIGNATURE_HEADER, SIG),
                    (SIGNATURE_HEADER, SIG),
                    (TIMESTAMP_HEADER, "1700000000"),
                ]),
                BODY,
                Rejection::DuplicateHeader,
            ),
            (
                headers(&[
                    (SIGNATURE_HEADER, SIG),
                    (TIMESTAMP_HEADER, "1700000000"),
                    (TIMESTAMP_HEADER, "1700000000"),
                ]),
                BODY,
                Rejection::DuplicateHeader,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "-5")]),
                BODY,
                Rejection::BadTimestamp,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "17e8")]),
                BODY,
                Rejection::BadTimestamp,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "")]),
                BODY,
                Rejection::BadTimestamp,
            ),
            (
                headers(&[(SIGNATURE_HEADER, "%%%"), (TIMESTAMP_HEADER, "1700000000")]),
                BODY,
                Rejection::BadBase64,
            ),
            (
                headers(&[(SIGNATURE_HEADER, "AAAA"), (TIMESTAMP_HEADER, "1700000000")]),
                BODY,
                Rejection::BadSignatureLength,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "1700000001")]),
                BODY,
                Rejection::BadSignature,
            ),
            (
                headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "1700000000")]),
                "{}",
                Rejection::BadSignature,
            ),
        ];
        for (h, body, want) in cases {
            assert_eq!(v.verify(&h, body.as_bytes()), Err(want), "{h:?}");
        }
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(v.verify(&ok, &big), Err(Rejection::BodyTooLarge));
        assert_eq!(
            Verifier::new(None, 300, Arc::new(FixedClock(1_700_000_000)))
                .verify(&ok, BODY.as_bytes()),
            Err(Rejection::NoKey)
        );
    }

    #[test]
    fn the_tolerance_holds_both_ways() {
        let ok = headers(&[(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, "1700000000")]);
        assert_eq!(verifier(1_700_000_300).verify(&ok, BODY.as_bytes()), Ok(()));
        assert_eq!(verifier(1_699_999_700).verify(&ok, BODY.as_bytes()), Ok(()));
        assert_eq!(
            verifier(1_700_000_301).verify(&ok, BODY.as_bytes()),
            Err(Rejection::Stale)
        );
        assert_eq!(
            verifier(1_699_999_699).verify(&ok, BODY.as_bytes()),
            Err(Rejection::Stale)
        );
        let real = Verifier::new(
            Some(PublicKey::parse(RAW).expect("raw")),
            DEFAULT_TOLERANCE_SECS,
            Arc::new(SystemClock),
        );
        assert_eq!(
            real.verify(&ok, BODY.as_bytes()),
            Err(Rejection::Stale),
            "the 2023 vector is refused by the real clock"
        );
    }
}
