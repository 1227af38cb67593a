//! The prospect list: one derived row per contact (the customer document is the
//! truth), its filters and pages.

use serde::{Deserialize, Serialize};

use super::{Contact, Customer, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    Invoice,
    Delivery,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Delivery => "delivery",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invoice" => Some(Self::Invoice),
            "delivery" => Some(Self::Delivery),
            _ => None,
        }
    }
}

/// One row of the prospect list (derived; the customer document is the truth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    pub customer_id: super::CustomerId,
    pub kind: ContactKind,
    /// Delivery code; empty for the invoice contact.
    pub code: String,
    pub name: String,
    pub company: String,
    pub email: String,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub language: String,
    pub language_confirmed: bool,
    pub tags: Vec<String>,
    pub opt_out: bool,
    pub archived: bool,
    pub updated_at: Millis,
}

impl ContactRow {
    /// Lower-case text the `q` filter matches: name, company, email, phones.
    pub fn search_text(&self) -> String {
        let mut s = format!("{}\u{1f}{}\u{1f}{}", self.name, self.company, self.email);
        for p in [&self.phone, &self.mobile].into_iter().flatten() {
            s.push('\u{1f}');
            s.push_str(p);
        }
        s.to_lowercase()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Invoice,
    Delivery,
    Both,
}

/// The prospect list's order: most recently changed first (the default), or by name
/// or company (byte order of the stored text, ties by customer and code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Recent,
    Name,
    NameDesc,
    Company,
    CompanyDesc,
}

impl Sort {
    pub const ALL: [(&'static str, Self); 5] = [
        ("recent", Self::Recent),
        ("name", Self::Name),
        ("-name", Self::NameDesc),
        ("company", Self::Company),
        ("-company", Self::CompanyDesc),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(k, _)| *k == s).map(|(_, v)| *v)
    }

    /// The field and whether it ascends; `None` for the most recent first.
    pub fn by(self) -> Option<(&'static str, bool)> {
        match self {
            Self::Recent => None,
            Self::Name => Some(("name", true)),
            Self::NameDesc => Some(("name", false)),
            Self::Company => Some(("company", true)),
            Self::CompanyDesc => Some(("company", false)),
        }
    }
}

/// The prospect list filters (`GET /api/prospects`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProspectQuery {
    pub scope: Scope,
    /// All must match (normalized like stored tags).
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub language_confirmed: Option<bool>,
    pub opt_out: Option<bool>,
    /// Plain text matched case-insensitively inside name, company, email, phones.
    pub text: Option<String>,
    /// Exact phones (E.164) the search also matches (the phone-aware part of `q`).
    pub phones: Vec<String>,
    pub show_archived: bool,
    pub sort: Sort,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items follow this page.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A page from a query that fetched one row more than `limit` (the extra row says
    /// whether another page follows).
    pub fn from_overfetch(mut items: Vec<T>, limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = items.len() > limit;
        items.truncate(limit);
        Self { items, has_more }
    }
}

/// Result of one upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub id: super::CustomerId,
    pub created: bool,
    pub changed: bool,
}

impl Customer {
    /// The rows the prospect list shows: the invoice contact and each delivery.
    /// `opted_out` says which phones are in DNC.
    pub fn contact_rows(&self, opted_out: &dyn Fn(&str) -> bool) -> Vec<ContactRow> {
        let row = |kind: ContactKind, code: &str, c: &Contact, tags: &[String]| {
            let opt_out = [&c.phone, &c.mobile]
                .into_iter()
                .flatten()
                .any(|p| opted_out(p));
            ContactRow {
                customer_id: self.id.clone(),
                kind,
                code: code.to_owned(),
                name: c.name.clone(),
                company: c.company.clone(),
                email: c.email.clone(),
                phone: c.phone.clone(),
                mobile: c.mobile.clone(),
                language: c.language.clone(),
                language_confirmed: c.language_confirmed,
                tags: tags.to_vec(),
                opt_out,
                archived: self.archived,
                updated_at: self.updated_at,
            }
        };
        let mut rows = vec![row(ContactKind::Invoice, "", &self.invoice, &self.tags)];
        for d in &self.delivery_addresses {
            rows.push(row(ContactKind::Delivery, &d.code, &d.contact, &d.tags));
        }
        rows
    }
}
