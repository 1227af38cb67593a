//! Deliveries attached to existing customers (the deliveries-only upload): how a row
//! names its parent, when two deliveries are the same place, the next `delivery_N`, and
//! [`AttachPlan`], the batch planning both store backends run.

use std::collections::HashMap;

use super::{Customer, Delivery, Millis};

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
    pub customer_id: super::CustomerId,
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
pub(super) fn sort_deliveries(deliveries: &mut [Delivery]) {
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

impl ParentKey {
    /// The one customer id among `ids` (what this key found), `None` when it found
    /// none, an error when it found several.
    pub fn pick(&self, mut ids: Vec<String>) -> Parent {
        ids.sort();
        ids.dedup();
        match ids.len() {
            0 => None,
            1 => ids.pop().map(|id| Ok(id.into())),
            n => Some(Err(AttachError::AmbiguousParent {
                key: match self {
                    Self::Phone(p) => p.clone(),
                    Self::Email(e) => e.clone(),
                },
                matches: n as u64,
            })),
        }
    }
}

/// Where a row's delivery goes: the parent found by its first key that finds any.
pub type Parent = Option<Result<super::CustomerId, AttachError>>;

/// One outcome per row of an attach batch.
pub type AttachOutcomes = Vec<Result<Attached, AttachError>>;

/// One batch of deliveries-only rows planned in memory, the same on every backend: the
/// backend finds each row's [`Parent`] and loads the customers the plan asks for (with
/// what it read them at, `R`: a version, the stored tags); the plan attaches each
/// delivery to its customer's copy ([`Customer::attach_delivery`]); the backend then
/// writes the customers that changed.
pub struct AttachPlan<R> {
    now: Millis,
    touched: HashMap<super::CustomerId, (Customer, R, bool)>,
    outcomes: AttachOutcomes,
}

impl<R> AttachPlan<R> {
    pub fn new(now: Millis, rows: usize) -> Self {
        Self {
            now,
            touched: HashMap::new(),
            outcomes: Vec::with_capacity(rows),
        }
    }

    /// The customer to load before [`attach`](Self::attach)ing to `parent`, if any.
    pub fn to_load<'p>(&self, parent: &'p Parent) -> Option<&'p super::CustomerId> {
        match parent {
            Some(Ok(id)) if !self.touched.contains_key(id) => Some(id),
            _ => None,
        }
    }

    pub fn load(&mut self, customer: Customer, read: R) {
        self.touched
            .insert(customer.id.clone(), (customer, read, false));
    }

    /// Attaches `delivery` to the (loaded) parent, or records why it cannot be.
    pub fn attach(&mut self, parent: Parent, delivery: Delivery) {
        let outcome =
            match parent {
                None => Err(AttachError::ParentNotFound),
                Some(Err(e)) => Err(e),
                Some(Ok(id)) => match self.touched.get_mut(&id) {
                    None => Err(AttachError::ParentNotFound),
                    Some((customer, _, dirty)) => customer.attach_delivery(delivery, self.now).map(
                        |(code, created, changed)| {
                            *dirty |= changed;
                            Attached {
                                customer_id: customer.id.clone(),
                                code,
                                created,
                                changed,
                            }
                        },
                    ),
                },
            };
        self.outcomes.push(outcome);
    }

    /// The outcomes in row order, and the customers that changed (their version already
    /// advanced) with what they were read at.
    pub fn finish(self) -> (AttachOutcomes, Vec<(Customer, R)>) {
        let changed = self
            .touched
            .into_values()
            .filter(|(_, _, dirty)| *dirty)
            .map(|(mut c, read, _)| {
                c.version += 1;
                (c, read)
            })
            .collect();
        (self.outcomes, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{test_contact as contact, Contact, Customer, NewCustomer};

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
}
