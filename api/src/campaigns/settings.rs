//! What a campaign is made of, as the API takes it: the audience, the pacing and
//! retry policy (`dialer`), and the schedule (`crate::dialer::window`). Each is checked
//! here with errors naming the field (`audience.custom[0].op`), and stored normalised.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::ApiError;
use crate::model::{normalize_tags, FieldDef, FieldKind};

const MAX_TAGS: usize = 50;
const MAX_CUSTOM: usize = 20;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_campaign", field, message)
}

/// Who a campaign calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    #[default]
    Invoice,
    Delivery,
    Both,
}

/// `{"target", "include_tags", "exclude_tags", "languages", "language_confirmed", "custom"}`.
/// Archived contacts and opted-out phones are never part of it, whatever it says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub target: Target,
    /// Every one of these tags.
    #[serde(default)]
    pub include_tags: Vec<String>,
    /// None of these tags.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// Any of these languages (empty: any).
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub language_confirmed: Option<bool>,
    /// Custom-field conditions, all of which must hold.
    #[serde(default)]
    pub custom: Vec<CustomFilter>,
}

/// `{"key": "region", "op": "eq", "value": "north"}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFilter {
    pub key: String,
    pub op: String,
    pub value: Value,
}

/// A field type's name as the API spells it (`number`).
fn kind_name(kind: FieldKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The operators each field type allows.
pub fn ops_for(kind: FieldKind) -> &'static [&'static str] {
    match kind {
        FieldKind::Number | FieldKind::Date => &["eq", "ne", "lt", "lte", "gt", "gte", "exists"],
        FieldKind::Enum => &["eq", "ne", "in", "exists"],
        FieldKind::Boolean => &["eq", "exists"],
        FieldKind::String | FieldKind::Phone | FieldKind::Email => {
            &["eq", "ne", "contains", "exists"]
        }
    }
}

impl Audience {
    /// Checks and normalises (tags as stored, languages lower case) against the
    /// field definitions.
    pub fn checked(mut self, defs: &[FieldDef]) -> Result<Self, ApiError> {
        for (name, tags) in [
            ("audience.include_tags", &mut self.include_tags),
            ("audience.exclude_tags", &mut self.exclude_tags),
        ] {
            if tags.len() > MAX_TAGS {
                return Err(invalid(
                    name,
                    format!("{name} holds at most {MAX_TAGS} tags"),
                ));
            }
            *tags = normalize_tags(std::mem::take(tags));
        }
        if let Some(t) = self
            .include_tags
            .iter()
            .find(|t| self.exclude_tags.contains(t))
        {
            return Err(invalid(
                "audience.exclude_tags",
                format!("tag {t:?} is both included and excluded"),
            ));
        }
        for (i, l) in self.languages.iter_mut().enumerate() {
            *l = l.trim().to_ascii_lowercase();
            if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(invalid(
                    format!("audience.languages[{i}]"),
                    "a language is a two-letter code such as nl, fr, de, en",
                ));
            }
        }
        if self.custom.len() > MAX_CUSTOM {
            return Err(invalid(
                "audience.custom",
                format!("at most {MAX_CUSTOM} custom-field conditions"),
            ));
        }
        for (i, c) in self.custom.iter().enumerate() {
            let field = |f: &str| format!("audience.custom[{i}].{f}");
            let def = defs.iter().find(|d| d.key == c.key).ok_or_else(|| {
                invalid(
                    field("key"),
                    format!("no prospect field is called {:?}", c.key),
                )
            })?;
            let ops = ops_for(def.kind);
            if !ops.contains(&c.op.as_str()) {
                return Err(invalid(
                    field("op"),
                    format!(
                        "{} fields take {}, not {:?}",
                        kind_name(def.kind),
                        ops.join(", "),
                        c.op
                    ),
                ));
            }
            let fits = |v: &Value| match def.kind {
                FieldKind::Number => v.is_number(),
                FieldKind::Boolean => v.is_boolean(),
                FieldKind::Date => v.as_str().is_some_and(crate::time::is_date),
                FieldKind::Enum => v
                    .as_str()
                    .is_some_and(|s| def.options.iter().any(|o| o == s)),
                _ => v.is_string(),
            };
            let ok = match c.op.as_str() {
                "exists" => c.value.is_boolean(),
                "in" => c
                    .value
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(fits)),
                _ => fits(&c.value),
            };
            if !ok {
                return Err(invalid(
                    field("value"),
                    format!(
                        "the value does not fit a {} field with {}",
                        kind_name(def.kind),
                        c.op
                    ),
                ));
            }
        }
        Ok(self)
    }
}

/// Whether and when to call again after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub retry: bool,
    #[serde(default)]
    pub after_minutes: u32,
}

impl Retry {
    const fn after(minutes: u32) -> Self {
        Self {
            retry: true,
            after_minutes: minutes,
        }
    }
}

/// The retry policy per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub no_answer: Retry,
    pub busy: Retry,
    pub failed: Retry,
    pub voicemail: Retry,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            no_answer: Retry::after(240),
            busy: Retry::after(30),
            failed: Retry::after(60),
            voicemail: Retry {
                retry: false,
                after_minutes: 0,
            },
        }
    }
}

/// Pacing, caps and retries (`dialer` in the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pacing {
    /// Calls of this campaign live at once.
    pub max_concurrent: u32,
    /// New dials per second.
    pub calls_per_second: f64,
    pub max_per_hour: Option<u32>,
    pub max_per_day: Option<u32>,
    /// Minutes between two calls to the same phone, whatever the outcome.
    pub cooldown_minutes: u32,
    /// Dials per phone, ever, in this campaign.
    pub max_attempts: u32,
    pub retry: RetryPolicy,
    /// Dial only phones with valid consent in the consent ledger.
    pub requires_consent: bool,
    /// The categories the agent's `set_outcome` tool may record.
    pub outcomes: Vec<String>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            max_concurrent: 5,
            calls_per_second: 1.0,
            max_per_hour: None,
            max_per_day: None,
            cooldown_minutes: 30,
            max_attempts: 3,
            retry: RetryPolicy::default(),
            requires_consent: false,
            outcomes: [
                "interested",
                "not_interested",
                "callback_requested",
                "wrong_person",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Pacing {
    pub fn checked(self) -> Result<Self, ApiError> {
        let range = |field: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(invalid(
                    format!("dialer.{field}"),
                    format!("dialer.{field} must be {lo} to {hi}"),
                ))
            }
        };
        range("max_concurrent", self.max_concurrent, 1, 500)?;
        if self.outcomes.len() > 30 {
            return Err(invalid("dialer.outcomes", "at most 30 outcome categories"));
        }
        for (i, o) in self.outcomes.iter().enumerate() {
            let ok = (1..=40).contains(&o.len())
                && o.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(invalid(
                    format!("dialer.outcomes[{i}]"),
                    "an outcome is 1-40 characters of a-z, 0-9 and _",
                ));
            }
        }
        range("cooldown_minutes", self.cooldown_minutes, 0, 60 * 24 * 90)?;
        range("max_attempts", self.max_attempts, 1, 20)?;
        if !(self.calls_per_second.is_finite() && (0.01..=50.0).contains(&self.calls_per_second)) {
            return Err(invalid(
                "dialer.calls_per_second",
                "dialer.calls_per_second must be 0.01 to 50",
            ));
        }
        for (field, cap) in [
            ("max_per_hour", self.max_per_hour),
            ("max_per_day", self.max_per_day),
        ] {
            if let Some(v) = cap {
                range(field, v, 1, 1_000_000)?;
            }
        }
        for (field, r) in [
            ("no_answer", self.retry.no_answer),
            ("busy", self.retry.busy),
            ("failed", self.retry.failed),
            ("voicemail", self.retry.voicemail),
        ] {
            range(
                &format!("retry.{field}.after_minutes"),
                r.after_minutes,
                0,
                60 * 24 * 30,
            )?;
        }
        Ok(self)
    }
}
