//! A custom field definition: its key, type, validation and which contacts show it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub id: String,
    pub key: String,
    pub label: String,
    /// string, number, date, enum, boolean, phone, email
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub options: Vec<String>,
    pub regex: Option<String>,
    pub default: Option<Value>,
    /// invoice, delivery, both
    pub visibility: String,
    pub order: i64,
}
