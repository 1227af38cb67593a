//! When a campaign may call someone: weekly windows in the **recipient's** local time,
//! a first and a last date, and blackout dates (holidays), all read on the recipient's
//! calendar. Without windows a campaign calls Monday to Sunday 08:00-21:00; no window
//! may reach outside 08:00-21:00 (47 CFR 64.1200(c)(1)) unless the campaign sets
//! `allow_outside_legal_hours`, which the API records in the audit log. Daylight-saving
//! changes come from the zone database (jiff): a window is local wall-clock time on
//! every day, whatever the offset that day.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// The legal calling hours (minutes after local midnight): 08:00 to 21:00.
pub const LEGAL_START: u16 = 8 * 60;
pub const LEGAL_END: u16 = 21 * 60;
/// Bounds on what a schedule may hold.
const MAX_WINDOWS: usize = 64;
const MAX_BLACKOUTS: usize = 366;
/// How far ahead [`CallingWindows::next_open`] looks.
const HORIZON_DAYS: i32 = 400;

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// A campaign's schedule as the API takes and shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// The campaign's zone: the recipient's when neither the number nor the contact's
    /// country says where they are.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub windows: Vec<WindowInput>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub blackout_dates: Vec<String>,
    #[serde(default)]
    pub allow_outside_legal_hours: bool,
}

/// `{"days": ["mon", "tue"], "start": "09:00", "end": "17:30"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

/// A schedule that failed validation: the field (`schedule.windows[2].start`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field: field.into(),
        message: message.into(),
    }
}

/// A validated schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct CallingWindows {
    /// (day, start minute, end minute), end exclusive.
    windows: Vec<(Weekday, u16, u16)>,
    start_date: Option<Date>,
    end_date: Option<Date>,
    blackout: BTreeSet<Date>,
    /// The campaign's zone.
    pub timezone: TimeZone,
}

fn minutes(field: &str, hhmm: &str) -> Result<u16, ScheduleError> {
    let parsed = hhmm.split_once(':').and_then(|(h, m)| {
        let ok = h.len() == 2 && m.len() == 2;
        let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
        (ok && (h < 24 && m < 60 || h == 24 && m == 0)).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| {
        bad(
            field,
            format!("{field} must be a time HH:MM (00:00 to 24:00), not {hhmm:?}"),
        )
    })
}

fn date(field: &str, text: &str) -> Result<Date, ScheduleError> {
    text.parse::<Date>().map_err(|_| {
        bad(
            field,
            format!("{field} must be a date YYYY-MM-DD, not {text:?}"),
        )
    })
}

impl CallingWindows {
    /// Checks a schedule; `default_zone` is the appliance's when the campaign names none.
    pub fn parse(input: &ScheduleInput, default_zone: &str) -> Result<Self, ScheduleError> {
        let zone_name = input.timezone.as_deref().unwrap_or(default_zone);
        let timezone = TimeZone::get(zone_name).map_err(|_| {
            bad(
                "schedule.timezone",
                format!("schedule.timezone {zone_name:?} is not an IANA time zone such as Europe/Brussels"),
            )
        })?;
        if input.windows.len() > MAX_WINDOWS {
            return Err(bad(
                "schedule.windows",
                format!("at most {MAX_WINDOWS} windows"),
            ));
        }
        let mut windows = Vec::new();
        for (i, w) in input.windows.iter().enumerate() {
            let field = |f: &str| format!("schedule.windows[{i}].{f}");
            let start = minutes(&field("start"), &w.start)?;
            let end = minutes(&field("end"), &w.end)?;
            if start >= end {
                return Err(bad(
                    field("end"),
                    format!("{} must be after start", field("end")),
                ));
            }
            if !input.allow_outside_legal_hours && (start < LEGAL_START || end > LEGAL_END) {
                return Err(bad(
                    field("start"),
                    format!(
                        "{} to {} reaches outside 08:00-21:00 in the called person's time, which the law forbids (set allow_outside_legal_hours only where it does not apply)",
                        w.start, w.end
                    ),
                ));
            }
            if w.days.is_empty() {
                return Err(bad(
                    field("days"),
                    format!("{} needs at least one day", field("days")),
                ));
            }
            for d in &w.days {
                let day = DAYS
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(d))
                    .map(|(_, day)| *day)
                    .ok_or_else(|| {
                        bad(
                            field("days"),
                            format!(
                                "{} holds {d:?}: use mon, tue, wed, thu, fri, sat, sun",
                                field("days")
                            ),
                        )
                    })?;
                windows.push((day, start, end));
            }
        }
        if windows.is_empty() {
            windows = DAYS
                .iter()
                .map(|(_, d)| (*d, LEGAL_START, LEGAL_END))
                .collect();
        }
        let start_date = input
            .start_date
            .as_deref()
            .map(|d| date("schedule.start_date", d))
            .transpose()?;
        let end_date = input
            .end_date
            .as_deref()
            .map(|d| date("schedule.end_date", d))
            .transpose()?;
        if let (Some(s), Some(e)) = (start_date, end_date) {
            if e < s {
                return Err(bad(
                    "schedule.end_date",
                    "schedule.end_date is before schedule.start_date",
                ));
            }
        }
        if input.blackout_dates.len() > MAX_BLACKOUTS {
            return Err(bad(
                "schedule.blackout_dates",
                format!("at most {MAX_BLACKOUTS} blackout dates"),
            ));
        }
        let blackout = input
            .blackout_dates
            .iter()
            .enumerate()
            .map(|(i, d)| date(&format!("schedule.blackout_dates[{i}]"), d))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Self {
            windows,
            start_date,
            end_date,
            blackout,
            timezone,
        })
    }

    /// Whether the window is open at `now` on the calendar and clock of `zone`.
    pub fn open_in(&self, zone: &TimeZone, now: Timestamp) -> bool {
        let local = now.to_zoned(zone.clone());
        let day = local.date();
        if self.start_date.is_some_and(|s| day < s)
            || self.end_date.is_some_and(|e| day > e)
            || self.blackout.contains(&day)
        {
            return false;
        }
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
            .unwrap_or(u16::MAX);
        self.windows
            .iter()
            .any(|(d, s, e)| *d == day.weekday() && *s <= minute && minute < *e)
    }

    /// Open in every zone (a number whose prefix spans several zones).
    pub fn open_in_all(&self, zones: &[TimeZone], now: Timestamp) -> bool {
        !zones.is_empty() && zones.iter().all(|z| self.open_in(z, now))
    }

    /// The first moment from `now` on when the window is open in every zone; `None`
    /// when there is none within 400 days (the campaign's dates are over, or the zones
    /// never share an open minute: short windows in zones far apart).
    pub fn next_open(&self, zones: &[TimeZone], now: Timestamp) -> Option<Timestamp> {
        if self.open_in_all(zones, now) {
            return Some(now);
        }
        let mut best: Option<Timestamp> = None;
        for zone in zones {
            let today = now.to_zoned(zone.clone()).date();
            let first = self.start_date.map_or(today, |s| s.max(today));
            for offset in 0..HORIZON_DAYS {
                let Ok(day) = first.checked_add(offset.days()) else {
                    break;
                };
                if self.end_date.is_some_and(|e| day > e)
                    || best.is_some_and(|b| {
                        day.at(0, 0, 0, 0)
                            .to_zoned(zone.clone())
                            .is_ok_and(|z| z.timestamp() > b)
                    })
                {
                    break;
                }
                for (d, start, _) in &self.windows {
                    if *d != day.weekday() {
                        continue;
                    }
                    let at = day.at(
                        i8::try_from(start / 60).unwrap_or(0),
                        i8::try_from(start % 60).unwrap_or(0),
                        0,
                        0,
                    );
                    let Ok(zoned) = at.to_zoned(zone.clone()) else {
                        continue;
                    };
                    let t = zoned.timestamp();
                    if t > now && best.is_none_or(|b| t < b) && self.open_in_all(zones, t) {
                        best = Some(t);
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone")
    }

    fn windows(json: serde_json::Value) -> Result<CallingWindows, ScheduleError> {
        let input: ScheduleInput = serde_json::from_value(json).expect("shape");
        CallingWindows::parse(&input, "Europe/Brussels")
    }

    #[test]
    fn without_windows_every_day_from_eight_to_nine_in_the_recipients_time() {
        let w = windows(serde_json::json!({})).expect("valid");
        let brussels = tz("Europe/Brussels");
        // 2026-01-15 is a Thursday; Brussels is UTC+1 in winter.
        assert!(!w.open_in(&brussels, ts("2026-01-15T06:59:00Z")));
        assert!(w.open_in(&brussels, ts("2026-01-15T07:00:00Z")));
        assert!(w.open_in(&brussels, ts("2026-01-15T19:59:00Z")));
        assert!(!w.open_in(&brussels, ts("2026-01-15T20:00:00Z")));
        // The same instant is a different local hour in New York.
        assert!(!w.open_in(&tz("America/New_York"), ts("2026-01-15T07:00:00Z")));
    }

    #[test]
    fn daylight_saving_moves_the_window_with_the_clock() {
        let w = windows(serde_json::json!({})).expect("valid");
        let brussels = tz("Europe/Brussels");
        // Saturday 2026-03-28 (UTC+1): 08:30 local is 07:30Z.
        assert!(w.open_in(&brussels, ts("2026-03-28T07:30:00Z")));
        // Sunday 2026-03-29, after the change to UTC+2: 07:30Z is 09:30, 05:30Z is 07:30.
        assert!(w.open_in(&brussels, ts("2026-03-29T07:30:00Z")));
        assert!(!w.open_in(&brussels, ts("2026-03-29T05:30:00Z")));
        assert!(w.open_in(&brussels, ts("2026-03-29T06:00:00Z")));
        // The next opening after a closed Sunday morning is 08:00 CEST.
        assert_eq!(
            w.next_open(&[brussels], ts("2026-03-29T05:30:00Z")),
            Some(ts("2026-03-29T06:00:00Z"))
        );
    }

    #[test]
    fn several_zones_must_all_be_open() {
        let w = windows(serde_json::json!({})).expect("valid");
        // Idaho's +12082: Boise (UTC-7 in winter) and Los Angeles (UTC-8).
        let idaho = [tz("America/Boise"), tz("America/Los_Angeles")];
        // 15:30Z: 08:30 in Boise, 07:30 in Los Angeles: not yet.
        assert!(!w.open_in_all(&idaho, ts("2026-01-15T15:30:00Z")));
        assert_eq!(
            w.next_open(&idaho, ts("2026-01-15T15:30:00Z")),
            Some(ts("2026-01-15T16:00:00Z"))
        );
        // 03:30Z next day: 20:30 Boise is open, 19:30 LA too; 04:00Z closes Boise.
        assert!(w.open_in_all(&idaho, ts("2026-01-16T03:30:00Z")));
        assert!(!w.open_in_all(&idaho, ts("2026-01-16T04:00:00Z")));
        // Three-hour windows in zones eleven hours apart never meet.
        let short = windows(serde_json::json!({"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "09:00", "end": "12:00"}]}))
            .expect("valid");
        let apart = [tz("Europe/Brussels"), tz("Pacific/Honolulu")];
        assert_eq!(short.next_open(&apart, ts("2026-01-15T00:00:00Z")), None);
        assert!(!w.open_in_all(&[], ts("2026-01-15T12:00:00Z")));
    }

    #[test]
    fn weekly_windows_dates_and_blackouts_are_the_recipients() {
        let w = windows(serde_json::json!({
            "windows": [{"days": ["mon", "wed"], "start": "09:00", "end": "12:00"}],
            "start_date": "2026-01-12", "end_date": "2026-01-31",
            "blackout_dates": ["2026-01-14"]
        }))
        .expect("valid");
        let brussels = tz("Europe/Brussels");
        // Monday 12 January 10:00 local: open. Tuesday: never.
        assert!(w.open_in(&brussels, ts("2026-01-12T09:00:00Z")));
        assert!(!w.open_in(&brussels, ts("2026-01-13T09:00:00Z")));
        // Wednesday 14th is a blackout: the next opening is Monday 19th 09:00.
        assert!(!w.open_in(&brussels, ts("2026-01-14T09:00:00Z")));
        assert_eq!(
            w.next_open(std::slice::from_ref(&brussels), ts("2026-01-13T12:00:00Z")),
            Some(ts("2026-01-19T08:00:00Z"))
        );
        // Before the first date: the first Monday; after the last: never.
        assert_eq!(
            w.next_open(std::slice::from_ref(&brussels), ts("2026-01-01T00:00:00Z")),
            Some(ts("2026-01-12T08:00:00Z"))
        );
        assert_eq!(w.next_open(&[brussels], ts("2026-02-01T00:00:00Z")), None);
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_field() {
        let field = |json: serde_json::Value| windows(json).expect_err("refused").field;
        assert_eq!(
            field(
                serde_json::json!({"windows": [{"days": ["mon"], "start": "07:30", "end": "12:00"}]})
            ),
            "schedule.windows[0].start"
        );
        assert_eq!(
            field(
                serde_json::json!({"windows": [{"days": ["mon"], "start": "12:00", "end": "21:30"}]})
            ),
            "schedule.windows[0].start"
        );
        assert_eq!(
            field(
                serde_json::json!({"windows": [{"days": ["mon"], "start": "12:00", "end": "11:00"}]})
            ),
            "schedule.windows[0].end"
        );
        assert_eq!(
            field(
                serde_json::json!({"windows": [{"days": ["funday"], "start": "09:00", "end": "11:00"}]})
            ),
            "schedule.windows[0].days"
        );
        assert_eq!(
            field(
                serde_json::json!({"windows": [{"days": ["mon"], "start": "9:00", "end": "11:00"}]})
            ),
            "schedule.windows[0].start"
        );
        assert_eq!(
            field(serde_json::json!({"timezone": "Mars/Olympus"})),
            "schedule.timezone"
        );
        assert_eq!(
            field(serde_json::json!({"start_date": "2026-02-01", "end_date": "2026-01-01"})),
            "schedule.end_date"
        );
        assert_eq!(
            field(serde_json::json!({"blackout_dates": ["2026-12-25", "25/12/2026"]})),
            "schedule.blackout_dates[1]"
        );
        // The documented override: early windows allowed when set.
        assert!(
            windows(serde_json::json!({"allow_outside_legal_hours": true,
            "windows": [{"days": ["mon"], "start": "07:00", "end": "22:00"}]}))
            .is_ok()
        );
    }
}
