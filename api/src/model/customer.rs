//! A customer: its invoice contact, its deliveries (each with a contact), tags and
//! custom values; how an upload row merges into a stored customer, and the key it is
//! matched by.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::deliveries::sort_deliveries;
use super::Millis;

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
    pub id: super::CustomerId,
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
            id: super::CustomerId::fresh(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_contact as contact;

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
