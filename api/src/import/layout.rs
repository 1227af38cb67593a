//! The header row: which column is which field. Names are the Node backend's
//! (`invoice_*`, `delivery_N_*` and the real-world `deliveryN_*` spelling, N = 1..10,
//! `custom_<key>`); they are matched trimmed and case-insensitively. Unknown and
//! repeated columns are reported by name before any row is read. The contact columns
//! themselves are [`crate::prospects::columns::COLUMNS`].

pub use crate::prospects::columns::Field;
use crate::prospects::columns::{delivery_field, invoice_field};

/// How a deliveries-only row names its parent customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentField {
    Phone,
    Mobile,
    Email,
}

/// Which upload a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// `POST /upload`: customers with `delivery_1..N` in the same row.
    #[default]
    Prospects,
    /// `POST /upload_deliveries`: one delivery per row, attached to an existing customer
    /// (its columns are read as delivery 1).
    Deliveries,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Invoice(Field),
    Parent(ParentField),
    /// `custom_<key>` of the customer's invoice contact.
    Custom(String),
    /// Delivery number 1..=10.
    Delivery(u8, Field),
    DeliveryCustom(u8, String),
    Unknown(String),
}

/// The highest `N` of a `delivery_N_*` column (the per-customer delivery limit).
pub const MAX_DELIVERIES: u8 = 50;
const _: () = assert!(MAX_DELIVERIES as usize == crate::model::MAX_DELIVERIES);

/// `delivery_3_city` / `delivery3_city` → (3, "city").
fn split_delivery(name: &str) -> Option<(u8, &str)> {
    let rest = name.strip_prefix("delivery")?;
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u8 = rest[..digits].parse().ok()?;
    let suffix = rest[digits..].strip_prefix('_')?;
    (1..=MAX_DELIVERIES).contains(&n).then_some((n, suffix))
}

/// Reads one header cell. `custom_keys` are the defined field keys.
pub fn classify(raw: &str, custom_keys: &[String], target: Target) -> Column {
    let name = raw
        .trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase();
    let known = |k: &str| custom_keys.iter().any(|c| c == k);
    if target == Target::Deliveries {
        return classify_delivery(&name, raw, &known);
    }
    if let Some(key) = name.strip_prefix("custom_") {
        return if known(key) {
            Column::Custom(key.to_owned())
        } else {
            Column::Unknown(raw.trim().to_owned())
        };
    }
    if let Some(f) = name.strip_prefix("invoice_").and_then(invoice_field) {
        return Column::Invoice(f);
    }
    if let Some((n, suffix)) = split_delivery(&name) {
        if let Some(key) = suffix.strip_prefix("custom_") {
            if known(key) {
                return Column::DeliveryCustom(n, key.to_owned());
            }
        } else if let Some(f) = delivery_field(suffix) {
            return Column::Delivery(n, f);
        }
    }
    Column::Unknown(raw.trim().to_owned())
}

/// A deliveries-only header cell: `parent_*`, `delivery_<field>`, `custom_<key>`
/// (the template's spelling) or `delivery_custom_<key>`.
fn classify_delivery(name: &str, raw: &str, known: &dyn Fn(&str) -> bool) -> Column {
    let parent = match name {
        "parent_invoice_phone" => Some(ParentField::Phone),
        "parent_invoice_mobile" | "parent_invoice_mobile_nr" => Some(ParentField::Mobile),
        "parent_email" | "parent_invoice_email" => Some(ParentField::Email),
        _ => None,
    };
    if let Some(p) = parent {
        return Column::Parent(p);
    }
    let custom = name
        .strip_prefix("custom_")
        .or_else(|| name.strip_prefix("delivery_custom_"));
    if let Some(key) = custom {
        if known(key) {
            return Column::DeliveryCustom(1, key.to_owned());
        }
    } else if let Some(f) = name.strip_prefix("delivery_").and_then(delivery_field) {
        return Column::Delivery(1, f);
    }
    Column::Unknown(raw.trim().to_owned())
}

/// The whole header, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the file has no header row")]
    Empty,
    #[error("unknown columns: {}", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("columns given twice: {}", .0.join(", "))]
    Duplicate(Vec<String>),
}

impl LayoutError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_file",
            Self::Unknown(_) => "unknown_columns",
            Self::Duplicate(_) => "duplicate_columns",
        }
    }
}

impl Layout {
    /// `ignore_unknown` keeps going past unknown columns (their cells are skipped).
    pub fn from_header<S: AsRef<str>>(
        header: &[S],
        custom_keys: &[String],
        target: Target,
        ignore_unknown: bool,
    ) -> Result<Self, LayoutError> {
        if header.iter().all(|h| h.as_ref().trim().is_empty()) {
            return Err(LayoutError::Empty);
        }
        let columns: Vec<Column> = header
            .iter()
            .map(|h| classify(h.as_ref(), custom_keys, target))
            .collect();
        let unknown: Vec<String> = columns
            .iter()
            .filter_map(|c| match c {
                Column::Unknown(n) if !n.is_empty() => Some(n.clone()),
                _ => None,
            })
            .collect();
        if !unknown.is_empty() && !ignore_unknown {
            return Err(LayoutError::Unknown(unknown));
        }
        let mut seen = Vec::new();
        let mut dup = Vec::new();
        for (c, raw) in columns.iter().zip(header) {
            if matches!(c, Column::Unknown(_)) {
                continue;
            }
            if seen.contains(&c) {
                dup.push(raw.as_ref().trim().to_owned());
            } else {
                seen.push(c);
            }
        }
        if !dup.is_empty() {
            return Err(LayoutError::Duplicate(dup));
        }
        Ok(Self { columns })
    }
}

/// `;` or `,`: whichever occurs more often outside quotes in the header line (ties and
/// neither: `,`).
pub fn detect_delimiter(header_line: &str) -> u8 {
    let (mut semi, mut comma, mut quoted) = (0, 0, false);
    for c in header_line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => semi += 1,
            ',' if !quoted => comma += 1,
            _ => {}
        }
    }
    if semi > comma {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Target = Target::Prospects;

    fn keys() -> Vec<String> {
        vec!["region".into(), "account".into()]
    }

    #[test]
    fn both_delivery_spellings_and_custom_columns() {
        let k = keys();
        assert_eq!(
            classify(" Invoice_Phone ", &k, P),
            Column::Invoice(Field::Phone)
        );
        assert_eq!(
            classify("invoice_mobile_nr", &k, P),
            Column::Invoice(Field::Mobile)
        );
        assert_eq!(
            classify("delivery_1_phone", &k, P),
            Column::Delivery(1, Field::Phone)
        );
        assert_eq!(
            classify("delivery1_mobile_nr", &k, P),
            Column::Delivery(1, Field::Mobile)
        );
        assert_eq!(
            classify("delivery10_contact_name", &k, P),
            Column::Delivery(10, Field::Name)
        );
        assert_eq!(
            classify("delivery_2_custom_region", &k, P),
            Column::DeliveryCustom(2, "region".into())
        );
        assert_eq!(
            classify("custom_account", &k, P),
            Column::Custom("account".into())
        );
        assert_eq!(
            classify("\u{feff}invoice_company", &k, P),
            Column::Invoice(Field::Company)
        );
        for unknown in [
            "delivery_51_city",
            "delivery_0_city",
            "custom_nope",
            "invoice_fax",
            "delivery_1_vat",
            "notes",
        ] {
            assert!(
                matches!(classify(unknown, &k, Target::Prospects), Column::Unknown(_)),
                "{unknown}"
            );
        }
    }

    #[test]
    fn header_problems_are_named() {
        let k = keys();
        assert_eq!(
            Layout::from_header(&["invoice_phone", "fax", "custom_nope"], &k, P, false),
            Err(LayoutError::Unknown(vec![
                "fax".into(),
                "custom_nope".into()
            ]))
        );
        assert!(Layout::from_header(&["invoice_phone", "fax"], &k, P, true).is_ok());
        assert_eq!(
            Layout::from_header(&["delivery_1_city", "delivery1_city"], &k, P, false),
            Err(LayoutError::Duplicate(vec!["delivery1_city".into()]))
        );
        assert_eq!(
            Layout::from_header(&["", " "], &k, P, false),
            Err(LayoutError::Empty)
        );
    }

    #[test]
    fn deliveries_headers() {
        let k = keys();
        let d = |name| classify(name, &k, Target::Deliveries);
        assert_eq!(
            d("parent_invoice_phone"),
            Column::Parent(ParentField::Phone)
        );
        assert_eq!(
            d("Parent_Invoice_Mobile"),
            Column::Parent(ParentField::Mobile)
        );
        assert_eq!(d("parent_email"), Column::Parent(ParentField::Email));
        assert_eq!(d("delivery_mobile"), Column::Delivery(1, Field::Mobile));
        assert_eq!(d("delivery_contact_name"), Column::Delivery(1, Field::Name));
        assert_eq!(
            d("custom_region"),
            Column::DeliveryCustom(1, "region".into())
        );
        assert_eq!(
            d("delivery_custom_account"),
            Column::DeliveryCustom(1, "account".into())
        );
        for unknown in [
            "delivery_1_city",
            "invoice_phone",
            "delivery_vat",
            "custom_nope",
        ] {
            assert!(matches!(d(unknown), Column::Unknown(_)), "{unknown}");
        }
    }

    #[test]
    fn delimiters() {
        assert_eq!(
            detect_delimiter("invoice_phone;invoice_company;\"a,b,c\""),
            b';'
        );
        assert_eq!(detect_delimiter("invoice_phone,invoice_company"), b',');
        assert_eq!(detect_delimiter("\"a;b;c\",x,y"), b',');
        assert_eq!(detect_delimiter("single"), b',');
    }
}
