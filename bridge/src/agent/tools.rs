//! The agent's tools, in one place for both crates: [`Tool`] names a tool (what a
//! profile lists, what the Realtime session is told: [`Tool::spec`]) and [`ToolCall`]
//! is one call of it with typed arguments, parsed from the model's JSON where it
//! enters. The api crate runs them (`CallHooks::tool`); the call core acts on
//! `end_call` itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Languages the agent may confirm (and be transcribed in).
pub const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    OptOut,
    ConfirmLanguage,
    EndCall,
    Transfer,
    SetOutcome,
}

impl Tool {
    pub const ALL: [Self; 5] = [
        Self::OptOut,
        Self::ConfirmLanguage,
        Self::EndCall,
        Self::Transfer,
        Self::SetOutcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::ConfirmLanguage => "confirm_language",
            Self::EndCall => "end_call",
            Self::Transfer => "transfer",
            Self::SetOutcome => "set_outcome",
        }
    }

    /// The function the Realtime session is given.
    pub fn spec(self) -> Value {
        let (description, parameters) = match self {
            Self::OptOut => (
                "The person asks not to be called again. Call this before saying goodbye.",
                json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
            ),
            Self::ConfirmLanguage => (
                "The person confirmed the language they want to be called in.",
                json!({"type": "object", "properties": {"language": {"type": "string", "enum": LANGUAGES}}, "required": ["language"]}),
            ),
            Self::EndCall => (
                "The conversation is over: say goodbye, then the call is hung up.",
                json!({"type": "object", "properties": {}}),
            ),
            Self::Transfer => (
                "The person wants a human: the call is transferred to a colleague.",
                json!({"type": "object", "properties": {}}),
            ),
            Self::SetOutcome => (
                "Record how the conversation went, as one of the outcome categories your instructions list, with a short note.",
                json!({"type": "object", "properties": {"category": {"type": "string"}, "note": {"type": "string"}}, "required": ["category"]}),
            ),
        };
        json!({"type": "function", "name": self.as_str(), "description": description, "parameters": parameters})
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tool {
    type Err = ToolError;

    fn from_str(s: &str) -> Result<Self, ToolError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ToolError::Unknown(s.chars().take(64).collect()))
    }
}

/// One call of a tool, with its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCall {
    OptOut {
        reason: Option<String>,
    },
    ConfirmLanguage {
        language: String,
    },
    EndCall,
    Transfer,
    /// A category the call's campaign defines (checked by the api crate), and a note.
    SetOutcome {
        category: String,
        note: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct OutcomeArgs {
    category: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OptOutArgs {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LanguageArgs {
    language: String,
}

impl ToolCall {
    /// A call of tool `name` with `arguments` as the model sent them (a JSON object in
    /// a string; empty means no arguments).
    pub fn parse(name: &str, arguments: &str) -> Result<Self, ToolError> {
        let tool: Tool = name.parse()?;
        let arguments = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        let bad = |e: serde_json::Error| ToolError::Arguments(e.to_string());
        Ok(match tool {
            Tool::OptOut => {
                let a: OptOutArgs = serde_json::from_str(arguments).map_err(bad)?;
                Self::OptOut { reason: a.reason }
            }
            Tool::ConfirmLanguage => {
                let a: LanguageArgs = serde_json::from_str(arguments).map_err(bad)?;
                let language = a.language.trim().to_ascii_lowercase();
                if !LANGUAGES.contains(&language.as_str()) {
                    return Err(ToolError::Arguments(format!(
                        "language must be one of {}",
                        LANGUAGES.join(", ")
                    )));
                }
                Self::ConfirmLanguage { language }
            }
            Tool::EndCall => Self::EndCall,
            Tool::Transfer => Self::Transfer,
            Tool::SetOutcome => {
                let a: OutcomeArgs = serde_json::from_str(arguments).map_err(bad)?;
                let category = a.category.trim().to_ascii_lowercase();
                let ok = (1..=40).contains(&category.len())
                    && category
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(ToolError::Arguments(
                        "category must be 1-40 characters of a-z, 0-9 and _".into(),
                    ));
                }
                let note = a
                    .note
                    .map(|n| n.trim().chars().take(500).collect::<String>())
                    .filter(|n| !n.is_empty());
                Self::SetOutcome { category, note }
            }
        })
    }

    pub fn tool(&self) -> Tool {
        match self {
            Self::OptOut { .. } => Tool::OptOut,
            Self::ConfirmLanguage { .. } => Tool::ConfirmLanguage,
            Self::EndCall => Tool::EndCall,
            Self::Transfer => Tool::Transfer,
            Self::SetOutcome { .. } => Tool::SetOutcome,
        }
    }
}

/// Why a tool call did not run; the agent is told (as `{"error": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool {0:?}")]
    Unknown(String),
    #[error("bad arguments: {0}")]
    Arguments(String),
    #[error("{0}")]
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_specs_name_themselves() {
        for t in Tool::ALL {
            assert_eq!(t.as_str().parse::<Tool>(), Ok(t));
            assert_eq!(t.spec()["name"], t.as_str());
            assert_eq!(serde_json::to_value(t).expect("json"), t.as_str());
        }
        assert!(matches!("hack".parse::<Tool>(), Err(ToolError::Unknown(_))));
    }

    #[test]
    fn arguments_are_typed_where_they_enter() {
        assert_eq!(
            ToolCall::parse("opt_out", r#"{"reason":"no thanks"}"#),
            Ok(ToolCall::OptOut {
                reason: Some("no thanks".into())
            })
        );
        assert_eq!(
            ToolCall::parse("opt_out", ""),
            Ok(ToolCall::OptOut { reason: None })
        );
        assert_eq!(
            ToolCall::parse("confirm_language", r#"{"language":" FR "}"#),
            Ok(ToolCall::ConfirmLanguage {
                language: "fr".into()
            })
        );
        for bad in [
            r#"{"language":"xx"}"#,
            "{}",
            "not json",
            r#"{"language":3}"#,
        ] {
            assert!(
                matches!(
                    ToolCall::parse("confirm_language", bad),
                    Err(ToolError::Arguments(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(ToolCall::parse("end_call", "{}"), Ok(ToolCall::EndCall));
        assert_eq!(
            ToolCall::parse(
                "set_outcome",
                r#"{"category":" Interested ","note":"call back"}"#
            ),
            Ok(ToolCall::SetOutcome {
                category: "interested".into(),
                note: Some("call back".into())
            })
        );
        for bad in [
            r#"{"category":"x y"}"#,
            r#"{"note":"n"}"#,
            r#"{"category":""}"#,
        ] {
            assert!(
                matches!(
                    ToolCall::parse("set_outcome", bad),
                    Err(ToolError::Arguments(_))
                ),
                "{bad}"
            );
        }
    }
}
