//! The one list of a prospect CSV's contact columns. The importer's header layout, the
//! two templates, the export and the round-trip test all read [`COLUMNS`]: adding a
//! plain column is an entry here (with its value in [`ContactCells::get`]), a field in
//! the model, and a line in the row builder (`crate::import::row`).
//!
//! Names are the Node backend's: `invoice_<name>` on the customer's invoice contact,
//! `delivery_<N>_<name>` on delivery N, `delivery_<name>` in the deliveries-only upload.

use crate::model::Contact;

/// A contact field a column fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Company,
    Vat,
    Address,
    City,
    PostalCode,
    Country,
    Email,
    Website,
    Phone,
    Mobile,
    Language,
    LanguageConfirmed,
    WaPreferred,
    Tags,
    OptOut,
    Notes,
}

/// What a cell holds, as the importer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Text,
    Email,
    Phone,
    /// `1/0`, `yes/no`, `true/false`, `ja/nee`, `oui/non` (any case).
    Flag,
    Language,
    /// Separated by `;` or `,`.
    Tags,
}

/// Which contacts have the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Both,
    InvoiceOnly,
    DeliveryOnly,
}

#[derive(Debug, Clone, Copy)]
pub struct ContactColumn {
    pub field: Field,
    /// The name after `invoice_` / `delivery_N_`, as templates and the export write it.
    pub name: &'static str,
    /// Other spellings the importer accepts.
    pub aliases: &'static [&'static str],
    pub kind: CellKind,
    pub scope: Scope,
    /// The name after `delivery_` in the deliveries-only template (`None`: not in it).
    pub deliveries_template: Option<&'static str>,
}

const fn column(field: Field, name: &'static str, kind: CellKind, scope: Scope) -> ContactColumn {
    ContactColumn {
        field,
        name,
        aliases: &[],
        kind,
        scope,
        deliveries_template: match scope {
            Scope::InvoiceOnly => None,
            _ => Some(name),
        },
    }
}

/// Every contact column, in the order templates and the export write them.
pub const COLUMNS: [ContactColumn; 17] = {
    use CellKind as K;
    use Field as F;
    use Scope as S;
    [
        column(F::Name, "contact_name", K::Text, S::Both),
        column(F::Company, "company", K::Text, S::Both),
        column(F::Vat, "vat", K::Text, S::InvoiceOnly),
        column(F::Address, "address", K::Text, S::Both),
        column(F::City, "city", K::Text, S::Both),
        column(F::PostalCode, "postal_code", K::Text, S::Both),
        column(F::Country, "country", K::Text, S::Both),
        column(F::Email, "email", K::Email, S::Both),
        column(F::Website, "website", K::Text, S::InvoiceOnly),
        column(F::Phone, "phone", K::Phone, S::Both),
        ContactColumn {
            aliases: &["mobile"],
            deliveries_template: Some("mobile"),
            ..column(F::Mobile, "mobile_nr", K::Phone, S::Both)
        },
        column(F::Language, "language", K::Language, S::Both),
        column(F::LanguageConfirmed, "language_confirmed", K::Flag, S::Both),
        column(F::WaPreferred, "wa_preferred", K::Flag, S::Both),
        column(F::Tags, "tags", K::Tags, S::Both),
        column(F::OptOut, "opt_out", K::Flag, S::Both),
        ContactColumn {
            deliveries_template: None,
            ..column(F::Notes, "notes", K::Text, S::DeliveryOnly)
        },
    ]
};

/// How the deliveries-only upload names the parent customer, in template order.
pub const PARENT_COLUMNS: [&str; 3] = [
    "parent_invoice_phone",
    "parent_invoice_mobile",
    "parent_email",
];

impl ContactColumn {
    pub fn on_invoice(&self) -> bool {
        self.scope != Scope::DeliveryOnly
    }

    pub fn on_delivery(&self) -> bool {
        self.scope != Scope::InvoiceOnly
    }

    fn is_called(&self, suffix: &str) -> bool {
        self.name == suffix || self.aliases.contains(&suffix)
    }
}

/// The invoice field a lower-case `invoice_<suffix>` column fills.
pub fn invoice_field(suffix: &str) -> Option<Field> {
    COLUMNS
        .iter()
        .find(|c| c.on_invoice() && c.is_called(suffix))
        .map(|c| c.field)
}

/// The delivery field a lower-case `delivery_<N>_<suffix>` column fills.
pub fn delivery_field(suffix: &str) -> Option<Field> {
    COLUMNS
        .iter()
        .find(|c| c.on_delivery() && c.is_called(suffix))
        .map(|c| c.field)
}

/// The prospects template's and the export's invoice columns.
pub fn invoice_header() -> impl Iterator<Item = String> {
    COLUMNS
        .iter()
        .filter(|c| c.on_invoice())
        .map(|c| format!("invoice_{}", c.name))
}

/// The export's columns of delivery group `n`.
pub fn delivery_header(n: usize) -> impl Iterator<Item = String> {
    COLUMNS
        .iter()
        .filter(|c| c.on_delivery())
        .map(move |c| format!("delivery_{n}_{}", c.name))
}

/// The deliveries-only template's columns.
pub fn deliveries_template_header() -> impl Iterator<Item = String> {
    PARENT_COLUMNS.iter().map(|c| (*c).to_owned()).chain(
        COLUMNS
            .iter()
            .filter_map(|c| c.deliveries_template)
            .map(|name| format!("delivery_{name}")),
    )
}

/// One stored contact with what sits beside it, as the export reads its cells.
pub struct ContactCells<'a> {
    pub contact: &'a Contact,
    pub tags: &'a [String],
    pub notes: &'a str,
    pub opted_out: bool,
}

impl ContactCells<'_> {
    /// The cell of `field` as the importer reads it back.
    pub fn get(&self, field: Field) -> String {
        let c = self.contact;
        match field {
            Field::Name => c.name.clone(),
            Field::Company => c.company.clone(),
            Field::Vat => c.vat.clone(),
            Field::Address => c.address.clone(),
            Field::City => c.city.clone(),
            Field::PostalCode => c.postal_code.clone(),
            Field::Country => c.country.clone(),
            Field::Email => c.email.clone(),
            Field::Website => c.website.clone(),
            Field::Phone => c.phone.clone().unwrap_or_default(),
            Field::Mobile => c.mobile.clone().unwrap_or_default(),
            Field::Language => c.language.clone(),
            // Explicit 0/1 keeps a delivery with no other cells alive.
            Field::LanguageConfirmed => yes_no(c.language_confirmed),
            Field::WaPreferred => yes_no(c.wa_preferred),
            Field::Tags => self.tags.join(";"),
            Field::OptOut => yes_no(self.opted_out),
            Field::Notes => self.notes.to_owned(),
        }
    }
}

/// A flag as the export writes it.
pub fn yes_no(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column names users' files already carry (agent5-contracts.md), unchanged.
    #[test]
    fn the_templates_keep_the_seed_names() {
        assert_eq!(
            invoice_header().collect::<Vec<_>>().join(","),
            "invoice_contact_name,invoice_company,invoice_vat,invoice_address,invoice_city,\
             invoice_postal_code,invoice_country,invoice_email,invoice_website,invoice_phone,\
             invoice_mobile_nr,invoice_language,invoice_language_confirmed,\
             invoice_wa_preferred,invoice_tags,invoice_opt_out"
        );
        assert_eq!(
            deliveries_template_header().collect::<Vec<_>>().join(","),
            "parent_invoice_phone,parent_invoice_mobile,parent_email,delivery_contact_name,\
             delivery_company,delivery_address,delivery_city,delivery_postal_code,\
             delivery_country,delivery_email,delivery_phone,delivery_mobile,\
             delivery_language,delivery_language_confirmed,delivery_wa_preferred,\
             delivery_tags,delivery_opt_out"
        );
        assert_eq!(
            delivery_header(2).collect::<Vec<_>>().join(","),
            "delivery_2_contact_name,delivery_2_company,delivery_2_address,delivery_2_city,\
             delivery_2_postal_code,delivery_2_country,delivery_2_email,delivery_2_phone,\
             delivery_2_mobile_nr,delivery_2_language,delivery_2_language_confirmed,\
             delivery_2_wa_preferred,delivery_2_tags,delivery_2_opt_out,delivery_2_notes"
        );
    }

    #[test]
    fn spellings_map_to_fields_where_the_contact_has_them() {
        assert_eq!(invoice_field("mobile"), Some(Field::Mobile));
        assert_eq!(invoice_field("mobile_nr"), Some(Field::Mobile));
        assert_eq!(invoice_field("notes"), None);
        assert_eq!(delivery_field("notes"), Some(Field::Notes));
        assert_eq!(delivery_field("vat"), None);
        assert_eq!(delivery_field("website"), None);
    }
}
