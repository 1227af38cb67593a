//! Phone numbers: normalisation to E.164 with libphonenumber's metadata (the
//! `phonenumber` crate) and a configurable default region for national formats.
//! An unparseable or invalid number is an error, never a guess: the Node version's
//! "digits after a 0 get +32" is exactly what this replaces.

use std::fmt;
use std::str::FromStr;

use phonenumber::country;

/// A valid phone number in E.164 form (`+32475123456`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

/// The region national numbers are read in (`BE` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Default for Region {
    fn default() -> Self {
        Self(country::Id::BE)
    }
}

impl Region {
    /// The ISO 3166 alpha-2 code (`BE`).
    pub fn iso(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Region {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Self)
            .map_err(|_| format!("{s:?} is not a two-letter region code (BE, NL, FR, ...)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number for its region")]
    Invalid,
    #[error("not in E.164 form (+ and country code)")]
    NotE164,
}

impl PhoneError {
    /// Stable error code for API responses and import reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "phone_empty",
            Self::Unparseable => "phone_unparseable",
            Self::Invalid => "phone_invalid",
            Self::NotE164 => "phone_not_e164",
        }
    }
}

impl E164 {
    /// Reads a number as a person would type it, national forms in `region`.
    pub fn normalize(input: &str, region: Region) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // "0032 475 ..." is international too.
        let text = match trimmed.strip_prefix("00") {
            Some(rest) if !rest.is_empty() => format!("+{rest}"),
            _ => trimmed.to_owned(),
        };
        let parsed =
            phonenumber::parse(Some(region.0), &text).map_err(|_| PhoneError::Unparseable)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Accepts only numbers already written in E.164 (route parameters, API fields).
    pub fn parse_strict(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if !trimmed.starts_with('+') || !trimmed[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotE164);
        }
        let n = Self::normalize(trimmed, Region::default())?;
        if n.0 != trimmed {
            return Err(PhoneError::NotE164);
        }
        Ok(n)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The E.164 numbers a search text may mean (typing `0475 12 34 56` finds
/// `+32475123456`): only when the text looks like a phone number at all.
pub fn search_candidates(q: &str, region: Region) -> Vec<String> {
    let digits = q.bytes().filter(u8::is_ascii_digit).count();
    let phone_like = q
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'+' | b'-' | b'.' | b'/' | b'(' | b')'));
    if !phone_like || digits < 6 {
        return Vec::new();
    }
    E164::normalize(q, region)
        .map(|n| vec![n.0])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms() {
        let be = Region::default();
        for input in [
            "0475 12 34 56",
            "+32 475 12 34 56",
            "0032475123456",
            "+32475123456",
            " 0475/12.34.56 ",
        ] {
            assert_eq!(
                E164::normalize(input, be).expect(input).as_str(),
                "+32475123456",
                "{input}"
            );
        }
        assert_eq!(
            E164::normalize("02 511 12 34", be)
                .expect("landline")
                .as_str(),
            "+3225111234"
        );
        // Unassigned ranges are refused rather than guessed.
        assert_eq!(
            E164::normalize("02 123 45 67", be),
            Err(PhoneError::Invalid)
        );
        let nl: Region = "nl".parse().expect("region");
        assert_eq!(
            E164::normalize("06 12345678", nl)
                .expect("nl mobile")
                .as_str(),
            "+31612345678"
        );
    }

    #[test]
    fn never_guesses() {
        let be = Region::default();
        assert_eq!(E164::normalize("", be), Err(PhoneError::Empty));
        assert_eq!(E164::normalize("call me", be), Err(PhoneError::Unparseable));
        assert_eq!(E164::normalize("0475 12", be), Err(PhoneError::Invalid));
        assert_eq!(
            E164::normalize("+32 475 12 34 56 78 90", be),
            Err(PhoneError::Invalid)
        );
        assert!("XX".parse::<Region>().is_err());
    }

    #[test]
    fn strict_e164() {
        assert_eq!(
            E164::parse_strict("+32475123456").expect("ok").as_str(),
            "+32475123456"
        );
        assert_eq!(E164::parse_strict("0475123456"), Err(PhoneError::NotE164));
        assert_eq!(
            E164::parse_strict("+32 475 12 34 56"),
            Err(PhoneError::NotE164)
        );
        assert_eq!(E164::parse_strict("+3247512"), Err(PhoneError::Invalid));
    }

    #[test]
    fn search_only_for_phone_like_text() {
        let be = Region::default();
        assert_eq!(search_candidates("0475 12 34 56", be), vec!["+32475123456"]);
        assert!(search_candidates("acme 0475", be).is_empty());
        assert!(search_candidates("12", be).is_empty());
    }
}
