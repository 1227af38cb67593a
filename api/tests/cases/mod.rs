//! The cases: each takes a store and asserts exact results, so both backends must
//! agree on data, order and error kinds.

mod access;
mod calls;
mod customers;
mod dialer;
mod dnc;
mod nodes;
mod prospect_list;
mod users;
mod webhooks;

pub use access::*;
pub use calls::*;
pub use customers::*;
pub use dialer::*;
pub use dnc::*;
pub use nodes::*;
pub use prospect_list::*;
pub use users::*;
pub use webhooks::*;

use agent5_api::model::{
    now_millis, Contact, Delivery, DncEntry, DncSource, NewCustomer, ProspectQuery, Scope,
};

fn contact(name: &str, phone: Option<&str>, lang: &str) -> Contact {
    Contact {
        name: name.into(),
        company: format!("{name} BV"),
        email: format!("{}@example.be", name.to_lowercase().replace(' ', ".")),
        phone: phone.map(str::to_owned),
        language: lang.into(),
        ..Contact::default()
    }
}

fn customer(name: &str, phone: &str, lang: &str, tags: &[&str]) -> NewCustomer {
    NewCustomer {
        invoice: contact(name, Some(phone), lang),
        deliveries: Vec::new(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        custom: serde_json::Map::new(),
    }
}

fn delivery(code: &str, name: &str, phone: &str, lang: &str, tags: &[&str]) -> Delivery {
    Delivery {
        code: code.into(),
        contact: contact(name, Some(phone), lang),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        notes: String::new(),
    }
}

fn dnc(phone: &str) -> DncEntry {
    DncEntry {
        phone_e164: phone.into(),
        reason: "asked".into(),
        source: DncSource::Ui,
        added_by: "tester".into(),
        added_at: now_millis(),
    }
}

fn query(scope: Scope) -> ProspectQuery {
    ProspectQuery {
        scope,
        limit: 100,
        ..ProspectQuery::default()
    }
}
