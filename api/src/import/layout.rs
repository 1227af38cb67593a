//! The header row: which column is which field. Names are the Node backend's
//! (`invoice_*`, `delivery_N_*` and the real-world `deliveryN_*` spelling, N = 1..10,
//! `custom_<key>`); they are matched trimmed and case-insensitively. Unknown and
//! repeated columns are reported by name before any row is read.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Invoice(Field),
    /// `custom_<key>` of the customer's invoice contact.
    Custom(String),
    /// Delivery number 1..=10.
    Delivery(u8, Field),
    DeliveryCustom(u8, String),
    Unknown(String),
}

pub const MAX_DELIVERIES: u8 = 10;

fn invoice_field(suffix: &str) -> Option<Field> {
    Some(match suffix {
        "contact_name" => Field::Name,
        "company" => Field::Company,
        "vat" => Field::Vat,
        "address" => Field::Address,
        "city" => Field::City,
        "postal_code" => Field::PostalCode,
        "country" => Field::Country,
        "email" => Field::Email,
        "website" => Field::Website,
        "phone" => Field::Phone,
        "mobile_nr" | "mobile" => Field::Mobile,
        "language" => Field::Language,
        "language_confirmed" => Field::LanguageConfirmed,
        "wa_preferred" => Field::WaPreferred,
        "tags" => Field::Tags,
        "opt_out" => Field::OptOut,
        _ => return None,
    })
}

fn delivery_field(suffix: &str) -> Option<Field> {
    match suffix {
        "notes" => Some(Field::Notes),
        "vat" | "website" => None,
        other => invoice_field(other),
    }
}

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
pub fn classify(raw: &str, custom_keys: &[String]) -> Column {
    let name = raw
        .trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase();
    let known = |k: &str| custom_keys.iter().any(|c| c == k);
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
        ignore_unknown: bool,
    ) -> Result<Self, LayoutError> {
        if header.iter().all(|h| h.as_ref().trim().is_empty()) {
            return Err(LayoutError::Empty);
        }
        let columns: Vec<Column> = header
            .iter()
            .map(|h| classify(h.as_ref(), custom_keys))
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

    fn keys() -> Vec<String> {
        vec!["region".into(), "account".into()]
    }

    #[test]
    fn both_delivery_spellings_and_custom_columns() {
        let k = keys();
        assert_eq!(
            classify(" Invoice_Phone ", &k),
            Column::Invoice(Field::Phone)
        );
        assert_eq!(
            classify("invoice_mobile_nr", &k),
            Column::Invoice(Field::Mobile)
        );
        assert_eq!(
            classify("delivery_1_phone", &k),
            Column::Delivery(1, Field::Phone)
        );
        assert_eq!(
            classify("delivery1_mobile_nr", &k),
            Column::Delivery(1, Field::Mobile)
        );
        assert_eq!(
            classify("delivery10_contact_name", &k),
            Column::Delivery(10, Field::Name)
        );
        assert_eq!(
            classify("delivery_2_custom_region", &k),
            Column::DeliveryCustom(2, "region".into())
        );
        assert_eq!(
            classify("custom_account", &k),
            Column::Custom("account".into())
        );
        assert_eq!(
            classify("\u{feff}invoice_company", &k),
            Column::Invoice(Field::Company)
        );
        for unknown in [
            "delivery_11_city",
            "delivery_0_city",
            "custom_nope",
            "invoice_fax",
            "delivery_1_vat",
            "notes",
        ] {
            assert!(
                matches!(classify(unknown, &k), Column::Unknown(_)),
                "{unknown}"
            );
        }
    }

    #[test]
    fn header_problems_are_named() {
        let k = keys();
        assert_eq!(
            Layout::from_header(&["invoice_phone", "fax", "custom_nope"], &k, false),
            Err(LayoutError::Unknown(vec![
                "fax".into(),
                "custom_nope".into()
            ]))
        );
        assert!(Layout::from_header(&["invoice_phone", "fax"], &k, true).is_ok());
        assert_eq!(
            Layout::from_header(&["delivery_1_city", "delivery1_city"], &k, false),
            Err(LayoutError::Duplicate(vec!["delivery1_city".into()]))
        );
        assert_eq!(
            Layout::from_header(&["", " "], &k, false),
            Err(LayoutError::Empty)
        );
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
