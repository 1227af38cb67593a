//! The stored shapes: customers with their invoice contact and deliveries, DNC
//! entries, field definitions, webhook events and audit entries, plus the derived
//! contact rows the prospect list is answered from.
//!
//! Timestamps are UTC milliseconds since the epoch in both backends, so results compare
//! equal across them. Everything here is backend-neutral: merging an upload into a
//! stored customer and deriving its contact rows happen once, in this file.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::call_model::{
    AgentProfile, Call, CallAttempt, CallFacts, CallQuery, Campaign, CarrierRecording, Clock,
    RecordingMeta, StatusChange, Turn,
};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new id: 8 hex digits of seconds then 16 random hex digits (sortable by creation,
/// the same shape as a MongoDB ObjectId's hex form).
pub fn new_id() -> String {
    let secs = u32::try_from(now_millis() / 1000).unwrap_or(u32::MAX);
    let r: u64 = rand::random();
    format!("{secs:08x}{r:016x}")
}

/// Upper bound of a prefix range: every string starting with `prefix` sorts below it.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A person we can call: the invoice contact or one delivery's contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub name: String,
    pub company: String,
    pub vat: String,
    pub address: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub email: String,
    pub website: String,
    /// Landline, E.164.
    pub phone: Option<String>,
    /// Mobile, E.164.
    pub mobile: Option<String>,
    pub language: String,
    pub language_confirmed: bool,
    pub wa_preferred: bool,
    pub custom: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delivery {
    /// Unique within the customer: `delivery_1`, ...
    pub code: String,
    #[serde(flatten)]
    pub contact: Contact,
    pub tags: Vec<String>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub invoice: Contact,
    pub delivery_addresses: Vec<Delivery>,
    pub tags: Vec<String>,
    pub custom: Map<String, Value>,
    pub archived: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Optimistic-concurrency version, bumped on every write.
    pub version: i64,
}

/// What an upload row (or an API create) says about a customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewCustomer {
    pub invoice: Contact,
    pub deliveries: Vec<Delivery>,
    pub tags: Vec<String>,
    pub custom: Map<String, Value>,
}

impl NewCustomer {
    /// The upsert key: the invoice phone, else the mobile, else name + email.
    pub fn upsert_key(&self) -> Option<String> {
        upsert_key(&self.invoice)
    }
}

pub fn upsert_key(invoice: &Contact) -> Option<String> {
    if let Some(p) = invoice.phone.as_deref().filter(|p| !p.is_empty()) {
        return Some(format!("phone:{p}"));
    }
    if let Some(m) = invoice.mobile.as_deref().filter(|m| !m.is_empty()) {
        return Some(format!("phone:{m}"));
    }
    let name = invoice.name.trim().to_lowercase();
    let email = invoice.email.trim().to_lowercase();
    (!name.is_empty() && !email.is_empty()).then(|| format!("name_email:{name}|{email}"))
}

impl Customer {
    pub fn create(new: NewCustomer, now: Millis) -> Self {
        // Deliveries repeated within one upload merge by code, as they would on update.
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(new.deliveries.len());
        for d in new.deliveries {
            match deliveries.iter_mut().find(|x| x.code == d.code) {
                Some(existing) => *existing = d,
                None => deliveries.push(d),
            }
        }
        sort_deliveries(&mut deliveries);
        Self {
            id: new_id(),
            invoice: new.invoice,
            delivery_addresses: deliveries,
            tags: normalize_tags(new.tags),
            custom: new.custom,
            archived: false,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Applies an upload to the stored customer: the invoice contact and tags are
    /// replaced, deliveries are merged by code, custom values merged by key. Returns
    /// whether anything changed (a re-upload of the same row changes nothing).
    pub fn merge(&mut self, new: NewCustomer, now: Millis) -> bool {
        let before = (
            self.invoice.clone(),
            self.delivery_addresses.clone(),
            self.tags.clone(),
            self.custom.clone(),
        );
        let mut invoice = new.invoice;
        let mut custom = std::mem::take(&mut self.invoice.custom);
        custom.extend(std::mem::take(&mut invoice.custom));
        invoice.custom = custom;
        self.invoice = invoice;
        for d in new.deliveries {
            match self
                .delivery_addresses
                .iter_mut()
                .find(|x| x.code == d.code)
            {
                Some(existing) => {
                    let mut custom = std::mem::take(&mut existing.contact.custom);
                    let mut d = d;
                    custom.extend(std::mem::take(&mut d.contact.custom));
                    d.contact.custom = custom;
                    *existing = d;
                }
                None => self.delivery_addresses.push(d),
            }
        }
        sort_deliveries(&mut self.delivery_addresses);
        self.tags = normalize_tags(new.tags);
        self.custom.extend(new.custom);
        let changed = before
            != (
                self.invoice.clone(),
                self.delivery_addresses.clone(),
                self.tags.clone(),
                self.custom.clone(),
            );
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// Every phone number of the customer (invoice and deliveries), de-duplicated.
    pub fn phones(&self) -> Vec<String> {
        let mut out: Vec<String> = std::iter::once(&self.invoice)
            .chain(self.delivery_addresses.iter().map(|d| &d.contact))
            .flat_map(|c| [c.phone.clone(), c.mobile.clone()])
            .flatten()
            .collect();
        out.sort();
        out.dedup();
        out
    }

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

/// Most deliveries one customer may have (the upload's `delivery_N_*` columns go as
/// far; the deliveries-only upload stops there too).
pub const MAX_DELIVERIES: usize = 50;

/// How a deliveries-only upload row names its parent customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentKey {
    /// `parent_invoice_phone` / `parent_invoice_mobile` (E.164): the invoice contact's
    /// phone or mobile.
    Phone(String),
    /// `parent_email`: the invoice contact's email, compared case-insensitively.
    Email(String),
}

impl ParentKey {
    /// The lower-cased email for [`ParentKey::Email`] lookups.
    pub fn email(email: &str) -> Self {
        Self::Email(email.trim().to_lowercase())
    }
}

/// A delivery to attach to an existing customer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// Tried in order: the first key that finds a customer decides.
    pub parent: Vec<ParentKey>,
    /// Its `code` is ignored: a matching delivery keeps its code, a new one gets the
    /// next free `delivery_N`.
    pub delivery: Delivery,
}

/// A delivery attached (or found unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub customer_id: String,
    pub code: String,
    pub created: bool,
    pub changed: bool,
}

/// Why one delivery could not be attached (the rest of the batch still is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    ParentNotFound,
    /// The key that matched several customers, and how many.
    AmbiguousParent {
        key: String,
        matches: u64,
    },
    TooManyDeliveries,
}

/// Whether two deliveries are the same place: the same phone or mobile if the new one
/// has any, else the same name, address and postal code (case-insensitive).
fn same_delivery(stored: &Delivery, new: &Delivery) -> bool {
    let new_phones: Vec<&String> = [&new.contact.phone, &new.contact.mobile]
        .into_iter()
        .flatten()
        .collect();
    if !new_phones.is_empty() {
        return [&stored.contact.phone, &stored.contact.mobile]
            .into_iter()
            .flatten()
            .any(|p| new_phones.contains(&p));
    }
    let place = |d: &Delivery| {
        [&d.contact.name, &d.contact.address, &d.contact.postal_code]
            .map(|s| s.trim().to_lowercase())
    };
    let key = place(new);
    key.iter().any(|s| !s.is_empty()) && place(stored) == key
}

/// Deliveries in code order (`delivery_2` before `delivery_10`), so a customer reads
/// the same however its rows arrived.
fn sort_deliveries(deliveries: &mut [Delivery]) {
    deliveries
        .sort_by(|a, b| (code_number(&a.code), &a.code).cmp(&(code_number(&b.code), &b.code)));
}

/// `delivery_7` → 7.
fn code_number(code: &str) -> Option<usize> {
    code.strip_prefix("delivery_")?.parse().ok()
}

/// The delivery number a code stands for in the upload columns (`delivery_N_*`).
pub fn delivery_number(code: &str) -> Option<usize> {
    code_number(code).filter(|n| (1..=MAX_DELIVERIES).contains(n))
}

impl Customer {
    /// Attaches a delivery from a deliveries-only upload: an existing delivery that is
    /// the same place is updated in place (custom values merged, code kept), otherwise
    /// the delivery is added as the next `delivery_N`. Returns the code and whether it
    /// was created or changed; a re-upload of the same row changes nothing.
    pub fn attach_delivery(
        &mut self,
        mut new: Delivery,
        now: Millis,
    ) -> Result<(String, bool, bool), AttachError> {
        if let Some(existing) = self
            .delivery_addresses
            .iter_mut()
            .find(|d| same_delivery(d, &new))
        {
            new.code = existing.code.clone();
            let mut custom = existing.contact.custom.clone();
            custom.extend(std::mem::take(&mut new.contact.custom));
            new.contact.custom = custom;
            let changed = *existing != new;
            if changed {
                *existing = new;
                self.updated_at = now;
            }
            return Ok((existing.code.clone(), false, changed));
        }
        if self.delivery_addresses.len() >= MAX_DELIVERIES {
            return Err(AttachError::TooManyDeliveries);
        }
        let next = self
            .delivery_addresses
            .iter()
            .filter_map(|d| code_number(&d.code))
            .max()
            .unwrap_or(0)
            + 1;
        if next > MAX_DELIVERIES {
            return Err(AttachError::TooManyDeliveries);
        }
        new.code = format!("delivery_{next}");
        let code = new.code.clone();
        self.delivery_addresses.push(new);
        self.updated_at = now;
        Ok((code, true, true))
    }
}

/// Lower-cased, trimmed, de-duplicated, sorted.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = tags
        .into_iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

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
    pub customer_id: String,
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
    pub id: String,
    pub created: bool,
    pub changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DncSource {
    Upload,
    Ui,
    System,
    Call,
}

impl DncSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Ui => "ui",
            Self::System => "system",
            Self::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(Self::Upload),
            "ui" => Some(Self::Ui),
            "system" => Some(Self::System),
            "call" => Some(Self::Call),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub phone_e164: String,
    pub reason: String,
    pub source: DncSource,
    pub added_by: String,
    pub added_at: Millis,
}

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

/// A webhook delivery to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEvent {
    pub event_id: String,
    pub event_type: String,
    /// The body as received.
    pub payload: String,
}

/// A recorded webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub received_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(phone: Option<&str>, name: &str, email: &str) -> Contact {
        Contact {
            phone: phone.map(str::to_owned),
            name: name.into(),
            email: email.into(),
            ..Contact::default()
        }
    }

    #[test]
    fn upsert_key_prefers_phone_then_mobile_then_name_email() {
        assert_eq!(
            upsert_key(&contact(Some("+32475123456"), "A", "a@x")).as_deref(),
            Some("phone:+32475123456")
        );
        let mut c = contact(None, " Ann ", "ANN@X.be");
        assert_eq!(upsert_key(&c).as_deref(), Some("name_email:ann|ann@x.be"));
        c.mobile = Some("+32470000000".into());
        assert_eq!(upsert_key(&c).as_deref(), Some("phone:+32470000000"));
        assert_eq!(upsert_key(&contact(None, "", "a@x")), None);
    }

    #[test]
    fn attached_deliveries_match_by_phone_then_place() {
        let mut c = Customer::create(
            NewCustomer {
                invoice: contact(Some("+3221234567"), "Acme", "a@acme.be"),
                deliveries: vec![Delivery {
                    code: "delivery_3".into(),
                    contact: contact(Some("+32475000001"), "Depot", ""),
                    ..Delivery::default()
                }],
                ..NewCustomer::default()
            },
            1,
        );
        let by_phone = Delivery {
            contact: Contact {
                city: "Gent".into(),
                ..contact(Some("+32475000001"), "Depot Gent", "")
            },
            ..Delivery::default()
        };
        assert_eq!(
            c.attach_delivery(by_phone.clone(), 2),
            Ok(("delivery_3".into(), false, true))
        );
        assert_eq!(
            c.attach_delivery(by_phone, 3),
            Ok(("delivery_3".into(), false, false))
        );
        assert_eq!(c.updated_at, 2);
        let by_place = Delivery {
            contact: Contact {
                address: "Kerkstraat 1".into(),
                ..contact(None, "Shop", "")
            },
            ..Delivery::default()
        };
        assert_eq!(
            c.attach_delivery(by_place.clone(), 4),
            Ok(("delivery_4".into(), true, true))
        );
        let mut shouting = by_place;
        shouting.contact.address = "KERKSTRAAT 1".into();
        assert_eq!(
            c.attach_delivery(shouting, 5)
                .map(|(code, created, _)| (code, created)),
            Ok(("delivery_4".into(), false))
        );
        assert_eq!(c.delivery_addresses.len(), 2);
        assert_eq!(delivery_number("delivery_4"), Some(4));
        assert_eq!(delivery_number("delivery_51"), None);
    }

    #[test]
    fn attach_stops_at_the_delivery_limit() {
        let mut c = Customer::create(
            NewCustomer {
                invoice: contact(Some("+3221234567"), "Acme", "a@acme.be"),
                ..NewCustomer::default()
            },
            1,
        );
        for i in 0..MAX_DELIVERIES {
            let d = Delivery {
                contact: contact(Some(&format!("+3247500{i:04}")), "", ""),
                ..Delivery::default()
            };
            assert!(c.attach_delivery(d, 2).is_ok());
        }
        let one_more = Delivery {
            contact: contact(Some("+32476999999"), "", ""),
            ..Delivery::default()
        };
        assert_eq!(
            c.attach_delivery(one_more, 3),
            Err(AttachError::TooManyDeliveries)
        );
    }

    #[test]
    fn merge_is_idempotent_and_merges_deliveries_by_code() {
        let new = NewCustomer {
            invoice: contact(Some("+3221234567"), "Acme", "a@acme.be"),
            deliveries: vec![Delivery {
                code: "delivery_1".into(),
                ..Delivery::default()
            }],
            tags: vec!["VIP".into(), "vip".into(), " b ".into()],
            custom: Map::new(),
        };
        let mut c = Customer::create(new.clone(), 1);
        assert_eq!(c.tags, vec!["b", "vip"]);
        assert!(!c.merge(new.clone(), 2), "same row again changes nothing");
        assert_eq!(c.updated_at, 1);
        let mut second = new;
        second.deliveries = vec![Delivery {
            code: "delivery_2".into(),
            ..Delivery::default()
        }];
        assert!(c.merge(second, 3));
        assert_eq!(c.delivery_addresses.len(), 2);
        assert_eq!(c.updated_at, 3);
    }
}
