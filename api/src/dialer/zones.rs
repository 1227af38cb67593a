//! Where a called person probably is: the IANA time zones of a phone number, from
//! libphonenumber's prefix map (`api/data/phone-timezones.txt`, see its README), then
//! the contact's country, then the campaign's own zone. A number whose prefix lists
//! several zones is called only when the window is open in all of them
//! ([`super::window::CallingWindows::open_in_all`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::tz::TimeZone;

const MAP: &str = include_str!("../../data/phone-timezones.txt");

/// The longest prefix in the map (digits; 9 in the shipped data).
const LONGEST: usize = 12;

/// Prefix (country calling code + start of the national number) -> zone names.
fn map() -> &'static HashMap<&'static str, Vec<&'static str>> {
    static PARSED: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    PARSED.get_or_init(|| {
        MAP.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split_once('|'))
            .map(|(prefix, zones)| (prefix, zones.split('&').collect()))
            .collect()
    })
}

/// The zone names of the longest known prefix of an E.164 number (`+` optional);
/// empty when no prefix is known (or the number holds anything but digits).
pub fn zone_names_of_number(e164: &str) -> &'static [&'static str] {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return &[];
    }
    let map = map();
    (1..=digits.len().min(LONGEST))
        .rev()
        .find_map(|n| map.get(&digits[..n]))
        .map_or(&[], Vec::as_slice)
}

/// The zone names of a country (ISO 3166 alpha-2, any case): those of its calling
/// code in the map; empty for an unknown country.
pub fn zone_names_of_country(iso: &str) -> &'static [&'static str] {
    let Ok(id) = iso
        .trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
    else {
        return &[];
    };
    let code = phonenumber::metadata::DATABASE
        .by_id(id.as_ref())
        .map(|m| m.country_code());
    match code {
        Some(code) => map()
            .get(code.to_string().as_str())
            .map_or(&[], Vec::as_slice),
        None => &[],
    }
}

/// Where the called person may be, and what decided it.
#[derive(Debug, Clone)]
pub struct RecipientZones {
    pub zones: Vec<TimeZone>,
    /// `number`, `country` or `campaign`.
    pub source: &'static str,
}

/// The recipient's zones: from the number, else the contact's country, else the
/// campaign's zone. Zone names the system's database does not know are skipped; when
/// nothing is left, the campaign's zone decides.
pub fn recipient_zones(e164: &str, country: Option<&str>, campaign: &TimeZone) -> RecipientZones {
    let resolve = |names: &[&str]| -> Vec<TimeZone> {
        names.iter().filter_map(|n| TimeZone::get(n).ok()).collect()
    };
    let by_number = resolve(zone_names_of_number(e164));
    if !by_number.is_empty() {
        return RecipientZones {
            zones: by_number,
            source: "number",
        };
    }
    let by_country = country.map(|c| resolve(zone_names_of_country(c)));
    if let Some(zones) = by_country.filter(|z| !z.is_empty()) {
        return RecipientZones {
            zones,
            source: "country",
        };
    }
    RecipientZones {
        zones: vec![campaign.clone()],
        source: "campaign",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_decides() {
        assert_eq!(zone_names_of_number("+32475123456"), ["Europe/Brussels"]);
        // New York City: one zone, not the 42 of +1.
        assert_eq!(zone_names_of_number("+12125551234"), ["America/New_York"]);
        assert_eq!(zone_names_of_number("12125551234"), ["America/New_York"]);
        // A prefix shared by two zones (Idaho), and a longer one inside it.
        assert_eq!(
            zone_names_of_number("+12082999999"),
            ["America/Boise", "America/Los_Angeles"]
        );
        assert_eq!(zone_names_of_number("+12082012345"), ["America/Denver"]);
        assert!(zone_names_of_number("+7").len() > 10);
        for bad in ["", "+", "+32 475", "abc", "+3247x"] {
            assert!(zone_names_of_number(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn every_zone_in_the_map_is_known_to_the_zone_database() {
        let mut unknown: Vec<&str> = map()
            .values()
            .flatten()
            .copied()
            .filter(|n| TimeZone::get(n).is_err())
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        assert!(unknown.is_empty(), "unknown zones: {unknown:?}");
        assert!(map().keys().all(|k| k.len() <= LONGEST));
    }

    #[test]
    fn a_country_then_the_campaign_decide_when_the_number_cannot() {
        assert_eq!(zone_names_of_country("be"), ["Europe/Brussels"]);
        assert!(zone_names_of_country("XX").is_empty());
        let campaign = TimeZone::get("Europe/Brussels").expect("zone");
        let r = recipient_zones("+32475123456", None, &campaign);
        assert_eq!(r.source, "number");
        let r = recipient_zones("+999", Some("NL"), &campaign);
        assert_eq!(
            (r.source, r.zones[0].iana_name()),
            ("country", Some("Europe/Amsterdam"))
        );
        let r = recipient_zones("+999", None, &campaign);
        assert_eq!(r.source, "campaign");
    }
}
