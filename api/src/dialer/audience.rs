//! Who a campaign's audience holds, decided in one place for both stores: the
//! contacts of a customer a campaign targets ([`candidates`]) and whether one matches
//! ([`Audience::matches`]). The dialer asks again immediately before each dial; the
//! do-not-call list and consent are the gate's, not the audience's.

use serde_json::Value;

use crate::campaigns::settings::{Audience, CustomFilter, Target};
use crate::model::{Contact, Customer};

/// One contact a campaign may call.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub customer: &'a Customer,
    /// `None` for the invoice contact, the delivery's code otherwise.
    pub code: Option<&'a str>,
    pub contact: &'a Contact,
    /// The invoice contact carries the customer's tags, a delivery its own.
    pub tags: &'a [String],
    /// The number to dial: the phone, else the mobile.
    pub phone: Option<&'a str>,
}

/// The contacts of `customer` that `target` names, with a number to call; none for
/// an archived customer.
pub fn candidates(customer: &Customer, target: Target) -> Vec<Candidate<'_>> {
    if customer.archived {
        return Vec::new();
    }
    let mut out = Vec::new();
    if matches!(target, Target::Invoice | Target::Both) {
        out.push(Candidate {
            customer,
            code: None,
            contact: &customer.invoice,
            tags: &customer.tags,
            phone: customer
                .invoice
                .phone
                .as_deref()
                .or(customer.invoice.mobile.as_deref()),
        });
    }
    if matches!(target, Target::Delivery | Target::Both) {
        for d in &customer.delivery_addresses {
            out.push(Candidate {
                customer,
                code: Some(&d.code),
                contact: &d.contact,
                tags: &d.tags,
                phone: d.contact.phone.as_deref().or(d.contact.mobile.as_deref()),
            });
        }
    }
    out.retain(|c| c.phone.is_some());
    out
}

impl Audience {
    /// Whether the contact belongs to the audience (tags, languages, confirmation,
    /// custom fields). Archived customers never do.
    pub fn matches(&self, c: &Candidate<'_>) -> bool {
        !c.customer.archived
            && self.include_tags.iter().all(|t| c.tags.contains(t))
            && !self.exclude_tags.iter().any(|t| c.tags.contains(t))
            && (self.languages.is_empty()
                || self
                    .languages
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&c.contact.language)))
            && self
                .language_confirmed
                .is_none_or(|want| want == c.contact.language_confirmed)
            && self
                .custom
                .iter()
                .all(|f| holds(f, custom_value(c, &f.key)))
    }
}

/// A custom value: the contact's own, else the customer's.
fn custom_value<'a>(c: &Candidate<'a>, key: &str) -> Option<&'a Value> {
    c.contact
        .custom
        .get(key)
        .or_else(|| c.customer.custom.get(key))
        .filter(|v| !v.is_null())
}

fn holds(f: &CustomFilter, value: Option<&Value>) -> bool {
    if f.op == "exists" {
        return f.value.as_bool() == Some(value.is_some());
    }
    let Some(v) = value else {
        // A missing value is unequal to anything and in no range.
        return f.op == "ne";
    };
    let text = |x: &Value| x.as_str().map(str::to_lowercase);
    match f.op.as_str() {
        "eq" => same(v, &f.value),
        "ne" => !same(v, &f.value),
        "in" => f
            .value
            .as_array()
            .is_some_and(|a| a.iter().any(|x| same(v, x))),
        "contains" => match (text(v), text(&f.value)) {
            (Some(h), Some(n)) => h.contains(&n),
            _ => false,
        },
        op => match order(v, &f.value) {
            Some(o) => match op {
                "lt" => o.is_lt(),
                "lte" => o.is_le(),
                "gt" => o.is_gt(),
                "gte" => o.is_ge(),
                _ => false,
            },
            None => false,
        },
    }
}

/// Equal as numbers, booleans or text (text without regard to case).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// Numbers by value; dates (`YYYY-MM-DD`) as text, which orders them.
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Delivery, NewCustomer};
    use serde_json::json;

    fn customer() -> Customer {
        let mut invoice = Contact {
            name: "Acme".into(),
            phone: Some("+3225111234".into()),
            language: "nl".into(),
            language_confirmed: true,
            ..Contact::default()
        };
        invoice.custom.insert("credit".into(), json!(1200));
        invoice.custom.insert("region".into(), json!("North"));
        let depot = Delivery {
            code: "delivery_1".into(),
            contact: Contact {
                name: "Depot".into(),
                mobile: Some("+32475123456".into()),
                language: "fr".into(),
                ..Contact::default()
            },
            tags: vec!["dock".into()],
            notes: String::new(),
        };
        let silent = Delivery {
            code: "delivery_2".into(),
            contact: Contact::default(),
            tags: Vec::new(),
            notes: String::new(),
        };
        let new = NewCustomer {
            invoice,
            deliveries: vec![depot, silent],
            tags: vec!["vip".into()],
            ..NewCustomer::default()
        };
        Customer::create(new, 1_000)
    }

    fn audience(v: serde_json::Value) -> Audience {
        serde_json::from_value(v).expect("audience")
    }

    #[test]
    fn the_target_picks_contacts_with_a_number_and_never_an_archived_customer() {
        let c = customer();
        let codes = |t| candidates(&c, t).iter().map(|x| x.code).collect::<Vec<_>>();
        assert_eq!(codes(Target::Invoice), [None]);
        // The second delivery has no number: nobody to call.
        assert_eq!(codes(Target::Delivery), [Some("delivery_1")]);
        assert_eq!(codes(Target::Both), [None, Some("delivery_1")]);
        assert_eq!(
            candidates(&c, Target::Delivery)[0].phone,
            Some("+32475123456")
        );
        let mut archived = customer();
        archived.archived = true;
        assert!(candidates(&archived, Target::Both).is_empty());
    }

    #[test]
    fn tags_languages_and_confirmation_narrow_the_audience() {
        let c = customer();
        let both = candidates(&c, Target::Both);
        let who = |a: &Audience| {
            both.iter()
                .filter(|x| a.matches(x))
                .map(|x| x.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(who(&audience(json!({"include_tags": ["vip"]}))), [None]);
        assert_eq!(
            who(&audience(json!({"exclude_tags": ["vip"]}))),
            [Some("delivery_1")]
        );
        assert_eq!(
            who(&audience(json!({"languages": ["fr", "de"]}))),
            [Some("delivery_1")]
        );
        assert_eq!(who(&audience(json!({"language_confirmed": true}))), [None]);
        assert_eq!(who(&audience(json!({}))).len(), 2);
    }

    #[test]
    fn custom_conditions_compare_by_type() {
        let c = customer();
        let inv = candidates(&c, Target::Invoice)[0];
        let m = |f: serde_json::Value| audience(json!({"custom": [f]})).matches(&inv);
        assert!(m(json!({"key": "credit", "op": "gt", "value": 1000})));
        assert!(!m(json!({"key": "credit", "op": "lt", "value": 1000})));
        assert!(m(json!({"key": "credit", "op": "gte", "value": 1200.0})));
        assert!(m(json!({"key": "region", "op": "eq", "value": "north"})));
        assert!(m(
            json!({"key": "region", "op": "in", "value": ["south", "North"]})
        ));
        assert!(m(
            json!({"key": "region", "op": "contains", "value": "ort"})
        ));
        assert!(!m(json!({"key": "region", "op": "ne", "value": "NORTH"})));
        assert!(m(json!({"key": "missing", "op": "exists", "value": false})));
        assert!(!m(json!({"key": "missing", "op": "eq", "value": "x"})));
        assert!(m(json!({"key": "missing", "op": "ne", "value": "x"})));
        assert!(!m(json!({"key": "missing", "op": "gt", "value": 1})));
        // A delivery without the value: the customer's own custom map is asked next.
        let mut c2 = customer();
        c2.custom.insert("segment".into(), json!("b2b"));
        let depot = candidates(&c2, Target::Delivery)[0];
        assert!(
            audience(json!({"custom": [{"key": "segment", "op": "eq", "value": "B2B"}]}))
                .matches(&depot)
        );
    }
}
