//! Passwords: the policy a new one must meet, and Argon2id hashing with OWASP's
//! parameters (19 MiB, 2 passes, 1 lane), always off the async threads. A password is
//! never logged and never returned; only its PHC string is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_CHARS: usize = 12;
/// Longest password hashed (beyond it, a request is refused before any work).
pub const MAX_BYTES: usize = 1024;

/// OWASP's Argon2id minimum: m = 19456 KiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Why a new password is refused (the message names no part of it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password is limited to {MAX_BYTES} bytes")]
    TooLong,
    #[error("this password is one of the most common ones; choose another")]
    Common,
}

impl PolicyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort => "password_too_short",
            Self::TooLong => "password_too_long",
            Self::Common => "password_too_common",
        }
    }
}

/// Hashing failed (a bug or no memory: never the password's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Whether `password` may be set: long enough, not absurdly long, and not a password
/// that is only its characters repeated or a run of the keyboard.
pub fn check_policy(password: &str) -> Result<(), PolicyError> {
    if password.len() > MAX_BYTES {
        return Err(PolicyError::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PolicyError::TooShort);
    }
    if is_trivial(password) || is_common(password) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

/// The common-password list (`api/data/README.md`: source, licence, regeneration),
/// sorted, lower case.
const COMMON: &str = include_str!("../../data/common-passwords.txt");

/// In the common list as typed, or once its trailing digits and punctuation are
/// stripped (`Password2024!` is `password`), without regard to case.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let listed = |word: &str| {
        static LIST: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        let list = LIST.get_or_init(|| COMMON.lines().collect());
        list.binary_search(&word).is_ok()
    };
    listed(&lower) || (!stem.is_empty() && listed(stem))
}

/// One character repeated, or a straight run (`123456789012`, `abcdefghijkl`,
/// `qwertyuiop[]`) however long.
fn is_trivial(password: &str) -> bool {
    let lower: Vec<char> = password.to_lowercase().chars().collect();
    let same = lower.windows(2).all(|w| w[0] == w[1]);
    let rows = [
        "1234567890",
        "qwertyuiop",
        "asdfghjkl",
        "zxcvbnm",
        "abcdefghijklmnopqrstuvwxyz",
    ];
    let run = |row: &str| {
        let row: Vec<char> = row.chars().collect();
        lower.windows(2).all(|w| {
            row.iter().position(|c| *c == w[0]).is_some_and(|i| {
                row.get(i + 1) == Some(&w[1]) || (i + 1 == row.len() && row[0] == w[1])
            })
        })
    };
    same || rows.iter().any(|r| run(r))
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params =
        Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh 16-byte salt (CPU-bound: call it through
/// [`hash_off_thread`] from async code).
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored PHC string (a malformed string matches
/// nothing).
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Hashes running at once: each takes 19 MiB, so a burst of sign-ins waits its turn
/// instead of taking hundreds of blocking threads and gigabytes.
fn hashing() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    })
}

/// [`hash`] on the blocking pool (at most one per core at a time).
pub async fn hash_off_thread(password: String) -> Result<String, HashError> {
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|e| HashError(e.to_string()))?;
    crate::background::spawn(move || hash(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// [`verify`] on the blocking pool. An unknown account is checked against a dummy
/// hash, so it costs the same time as a known one.
pub async fn verify_off_thread(password: String, phc: Option<String>) -> bool {
    let Ok(_permit) = hashing().acquire().await else {
        return false;
    };
    crate::background::spawn(move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            let _ = verify(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// A valid Argon2id hash of a random password, made once: what an unknown email is
/// checked against.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 24] = rand::random();
        hash(&format!("{random:?}")).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_what_is_wrong() {
        assert_eq!(check_policy("short pass"), Err(PolicyError::TooShort));
        assert_eq!(
            check_policy(&"x".repeat(MAX_BYTES + 1)),
            Err(PolicyError::TooLong)
        );
        for trivial in [
            "aaaaaaaaaaaa",
            "123456789012",
            "abcdefghijklm",
            "QWERTYUIOP",
        ] {
            let long_enough = if trivial.chars().count() < MIN_CHARS {
                format!("{trivial}qw")
            } else {
                trivial.to_owned()
            };
            assert_eq!(
                check_policy(&long_enough),
                Err(PolicyError::Common),
                "{long_enough}"
            );
        }
        for common in [
            "q1w2e3r4t5y6",
            "Password2024!",
            "iloveyou1234",
            "Sunshine12345",
        ] {
            assert_eq!(check_policy(common), Err(PolicyError::Common), "{common}");
        }
        assert_eq!(check_policy("correct horse battery"), Ok(()));
        assert_eq!(
            check_policy("ünïcödé pässwörd"),
            Ok(()),
            "characters, not bytes"
        );
    }

    #[test]
    fn a_hash_verifies_its_password_only_and_is_salted() {
        let a = hash("correct horse battery").expect("hash");
        let b = hash("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!a.contains("correct"), "the password is not in its hash");
    }

    #[tokio::test]
    async fn an_unknown_account_is_checked_against_a_dummy_hash() {
        assert!(!verify_off_thread("correct horse battery".into(), None).await);
        let phc = hash_off_thread("correct horse battery".into())
            .await
            .expect("hash");
        assert!(verify_off_thread("correct horse battery".into(), Some(phc)).await);
    }
}
