//! A custom field definition: its key, type, validation and which contacts show it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub id: String,
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    pub required: bool,
    pub options: Vec<String>,
    pub regex: Option<String>,
    pub default: Option<Value>,
    pub visibility: Visibility,
    pub order: i64,
}

impl FieldDef {
    /// An optional field of `kind` shown on every contact, labelled by its key.
    pub fn new(id: impl Into<String>, key: &str, kind: FieldKind) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
            label: key.into(),
            kind,
            required: false,
            options: Vec::new(),
            regex: None,
            default: None,
            visibility: Visibility::Both,
            order: 0,
        }
    }
}

/// What a custom field holds (its JSON and CSV name is the lower-case variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    String,
    Number,
    Date,
    Enum,
    Boolean,
    Phone,
    Email,
}

impl FieldKind {
    pub const ALL: [Self; 7] = [
        Self::String,
        Self::Number,
        Self::Date,
        Self::Enum,
        Self::Boolean,
        Self::Phone,
        Self::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Date => "date",
            Self::Enum => "enum",
            Self::Boolean => "boolean",
            Self::Phone => "phone",
            Self::Email => "email",
        }
    }

    /// Whether a regex may constrain the field's text.
    pub fn is_text(self) -> bool {
        matches!(self, Self::String | Self::Phone | Self::Email)
    }
}

/// Which contacts show a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Invoice,
    Delivery,
    Both,
}

impl Visibility {
    pub const ALL: [Self; 3] = [Self::Invoice, Self::Delivery, Self::Both];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Delivery => "delivery",
            Self::Both => "both",
        }
    }

    /// Whether a field with this visibility shows on `side` (`Invoice` or `Delivery`).
    pub fn shows_on(self, side: Self) -> bool {
        self == Self::Both || self == side
    }
}

/// A name that is none of the allowed ones (listed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of {0}")]
pub struct NotOneOf(pub String);

macro_rules! parse_by_name {
    ($t:ty) => {
        impl std::str::FromStr for $t {
            type Err = NotOneOf;

            /// The name, trimmed and in any case.
            fn from_str(s: &str) -> Result<Self, NotOneOf> {
                let s = s.trim().to_ascii_lowercase();
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        NotOneOf(names.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

parse_by_name!(FieldKind);
parse_by_name!(Visibility);
