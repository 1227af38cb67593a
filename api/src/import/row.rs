//! One data row of a prospects upload: cells to a customer (invoice contact plus
//! deliveries `delivery_1..10`) and the phones it opts out, or an error with a stable
//! code and a message naming the column. Nothing is guessed: an unparseable phone, a
//! boolean that is not one, or a custom value that does not fit its definition fails
//! the row.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::layout::{Column, Field, Layout, ParentField};
use crate::model::{
    upsert_key, Contact, Delivery, FieldDef, FieldKind, NewCustomer, NewDelivery, ParentKey,
    Visibility,
};
use crate::phone::{Region, E164};
use crate::prospects::field_defs::{check_value, compile};

/// A parsed row ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    pub customer: NewCustomer,
    /// Phones of contacts marked opt-out in this row.
    pub opt_out_phones: Vec<String>,
}

/// A parsed deliveries-only row.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDelivery {
    pub delivery: NewDelivery,
    /// The delivery's phones when the row marks it opt-out.
    pub opt_out_phones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub code: &'static str,
    pub message: String,
}

fn row_err(code: &'static str, message: impl Into<String>) -> RowError {
    RowError {
        code,
        message: message.into(),
    }
}

/// Field definitions prepared once per upload.
pub struct Definitions {
    defs: Vec<(FieldDef, Option<regex::Regex>)>,
}

impl Definitions {
    pub fn new(defs: Vec<FieldDef>) -> Self {
        Self {
            defs: defs
                .into_iter()
                .map(|d| {
                    // Definitions were validated when saved; a regex that no longer
                    // compiles is treated as absent rather than failing every row.
                    let re = d.regex.as_deref().and_then(|r| compile(r).ok());
                    (d, re)
                })
                .collect(),
        }
    }

    pub fn keys(&self) -> Vec<String> {
        self.defs.iter().map(|(d, _)| d.key.clone()).collect()
    }

    fn get(&self, key: &str) -> Option<&(FieldDef, Option<regex::Regex>)> {
        self.defs.iter().find(|(d, _)| d.key == key)
    }

    /// Required definitions visible to a kind of contact.
    fn required_for(&self, side: Visibility) -> impl Iterator<Item = &FieldDef> + '_ {
        self.defs
            .iter()
            .map(|(d, _)| d)
            .filter(move |d| d.required && d.visibility.shows_on(side))
    }
}

pub fn parse_bool(cell: &str) -> Option<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "ja" | "oui" => Some(true),
        "0" | "false" | "no" | "n" | "nee" | "non" => Some(false),
        _ => None,
    }
}

/// A typed custom value from a cell, checked against its definition.
fn custom_value(
    def: &FieldDef,
    re: Option<&regex::Regex>,
    cell: &str,
    region: Region,
) -> Result<Value, String> {
    let cell = cell.trim();
    let value = match def.kind {
        FieldKind::Number => {
            // Excel in Belgium writes 1.234,5 as "1234,5": one separator is the decimal one.
            let normalized = if cell.contains(',') && !cell.contains('.') {
                cell.replace(',', ".")
            } else {
                cell.to_owned()
            };
            let n: f64 = normalized
                .parse()
                .map_err(|_| format!("{cell:?} is not a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| format!("{cell:?} is not a finite number"))?
        }
        FieldKind::Boolean => {
            Value::Bool(parse_bool(cell).ok_or_else(|| format!("{cell:?} is not yes/no"))?)
        }
        FieldKind::Enum => {
            let canonical = def
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(cell))
                .ok_or_else(|| format!("{cell:?} is not one of {}", def.options.join(", ")))?;
            Value::String(canonical.clone())
        }
        FieldKind::Date => {
            // YYYY-MM-DD, or DD/MM/YYYY as European spreadsheets show dates.
            let iso = match cell.split('/').collect::<Vec<_>>().as_slice() {
                [d, m, y] if y.len() == 4 => format!("{y}-{m:0>2}-{d:0>2}"),
                _ => cell.to_owned(),
            };
            Value::String(iso)
        }
        FieldKind::Phone => Value::String(
            E164::normalize(cell, region)
                .map_err(|e| format!("{cell:?}: {e}"))?
                .into_string(),
        ),
        FieldKind::String | FieldKind::Email => Value::String(cell.to_owned()),
    };
    check_value(def, re, &value).map_err(|e| e.to_string())?;
    Ok(value)
}

/// Cells of one contact, gathered from the row.
#[derive(Default)]
struct Cells<'a> {
    fields: BTreeMap<u8, &'a str>,
    custom: Vec<(&'a str, &'a str)>,
    any: bool,
}

fn field_id(f: Field) -> u8 {
    f as u8
}

/// The cells of one row, per contact, plus the parent columns of a deliveries row.
#[derive(Default)]
struct Gathered<'a> {
    invoice: Cells<'a>,
    deliveries: BTreeMap<u8, Cells<'a>>,
    parent: Vec<(ParentField, &'a str)>,
}

fn gather<'a, S: AsRef<str>>(
    layout: &'a Layout,
    record: &'a [S],
) -> Result<Gathered<'a>, RowError> {
    let mut g = Gathered::default();
    for (i, col) in layout.columns.iter().enumerate() {
        let cell = record.get(i).map_or("", |c| c.as_ref());
        if cell.contains('\u{FFFD}') {
            return Err(row_err(
                "INVALID_ENCODING",
                format!("column {} holds bytes that are not text", i + 1),
            ));
        }
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let (target, custom_key, field) = match col {
            Column::Invoice(f) => (&mut g.invoice, None, Some(*f)),
            Column::Custom(k) => (&mut g.invoice, Some(k.as_str()), None),
            Column::Delivery(n, f) => (g.deliveries.entry(*n).or_default(), None, Some(*f)),
            Column::DeliveryCustom(n, k) => {
                (g.deliveries.entry(*n).or_default(), Some(k.as_str()), None)
            }
            Column::Parent(p) => {
                g.parent.push((*p, cell));
                continue;
            }
            Column::Unknown(_) => continue,
        };
        target.any = true;
        match (field, custom_key) {
            (Some(f), _) => {
                target.fields.insert(field_id(f), cell);
            }
            (None, Some(k)) => target.custom.push((k, cell)),
            (None, None) => {}
        }
    }
    Ok(g)
}

/// A deliveries-only row: the parent keys (phone, mobile, email, in that order) and
/// one delivery.
pub fn parse_delivery<S: AsRef<str>>(
    layout: &Layout,
    record: &[S],
    defs: &Definitions,
    region: Region,
) -> Result<ParsedDelivery, RowError> {
    let g = gather(layout, record)?;
    let mut parent = Vec::new();
    for wanted in [ParentField::Phone, ParentField::Mobile, ParentField::Email] {
        for (_, cell) in g.parent.iter().filter(|(p, _)| *p == wanted) {
            let key = match wanted {
                ParentField::Email => ParentKey::email(cell),
                ParentField::Phone | ParentField::Mobile => {
                    let column = if wanted == ParentField::Phone {
                        "parent_invoice_phone"
                    } else {
                        "parent_invoice_mobile"
                    };
                    let e164 = E164::normalize(cell, region).map_err(|e| {
                        row_err("INVALID_PHONE", format!("{column}: {cell:?} is {e}"))
                    })?;
                    ParentKey::Phone(e164.into_string())
                }
            };
            parent.push(key);
        }
    }
    if parent.is_empty() {
        return Err(row_err(
            "MISSING_PARENT_KEY",
            "a row needs parent_invoice_phone, parent_invoice_mobile or parent_email",
        ));
    }
    let empty = Cells::default();
    let cells = g.deliveries.get(&1).unwrap_or(&empty);
    let (contact, tags, opt_out) = build_contact("delivery", cells, defs, region)?;
    if contact.phone.is_none()
        && contact.mobile.is_none()
        && contact.name.is_empty()
        && contact.address.is_empty()
    {
        return Err(row_err(
            "MISSING_REQUIRED",
            "a delivery needs delivery_phone, delivery_mobile, delivery_contact_name or delivery_address",
        ));
    }
    let opt_out_phones = if opt_out {
        contact
            .phone
            .iter()
            .chain(contact.mobile.iter())
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    Ok(ParsedDelivery {
        delivery: NewDelivery {
            parent,
            delivery: Delivery {
                code: String::new(),
                notes: notes(cells),
                contact,
                tags,
            },
        },
        opt_out_phones,
    })
}

fn notes(cells: &Cells<'_>) -> String {
    cells
        .fields
        .get(&field_id(Field::Notes))
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

pub fn parse<S: AsRef<str>>(
    layout: &Layout,
    record: &[S],
    defs: &Definitions,
    region: Region,
) -> Result<ParsedRow, RowError> {
    let Gathered {
        invoice,
        deliveries,
        ..
    } = gather(layout, record)?;
    let (contact, tags, invoice_opt_out) = build_contact("invoice", &invoice, defs, region)?;
    let mut opt_out_phones = Vec::new();
    if invoice_opt_out {
        opt_out_phones.extend(contact.phone.iter().chain(contact.mobile.iter()).cloned());
    }
    let mut customer = NewCustomer {
        invoice: contact,
        deliveries: Vec::new(),
        tags,
        custom: Map::new(),
    };
    for (n, cells) in deliveries.iter().filter(|(_, c)| c.any) {
        let label = format!("delivery_{n}");
        let (contact, tags, opt_out) = build_contact(&label, cells, defs, region)?;
        if opt_out {
            opt_out_phones.extend(contact.phone.iter().chain(contact.mobile.iter()).cloned());
        }
        customer.deliveries.push(Delivery {
            code: label,
            notes: notes(cells),
            contact,
            tags,
        });
    }
    if upsert_key(&customer.invoice).is_none() {
        return Err(row_err(
            "MISSING_REQUIRED",
            "a row needs invoice_phone, invoice_mobile_nr, or invoice_contact_name with invoice_email",
        ));
    }
    opt_out_phones.sort();
    opt_out_phones.dedup();
    Ok(ParsedRow {
        customer,
        opt_out_phones,
    })
}

fn build_contact(
    label: &str,
    cells: &Cells<'_>,
    defs: &Definitions,
    region: Region,
) -> Result<(Contact, Vec<String>, bool), RowError> {
    let get = |f: Field| cells.fields.get(&field_id(f)).copied().unwrap_or("");
    // Error messages name the column as the file spells it.
    let column = |suffix: &str| match label {
        "invoice" => format!("invoice_{suffix}"),
        "delivery" if suffix.starts_with("custom_") => suffix.to_owned(),
        "delivery" if suffix == "mobile_nr" => "delivery_mobile".to_owned(),
        _ => format!("{label}_{suffix}"),
    };
    let phone = |f: Field, suffix: &str| -> Result<Option<String>, RowError> {
        let cell = get(f);
        if cell.is_empty() {
            return Ok(None);
        }
        E164::normalize(cell, region)
            .map(|p| Some(p.into_string()))
            .map_err(|e| {
                row_err(
                    "INVALID_PHONE",
                    format!("{}: {cell:?} is {e}", column(suffix)),
                )
            })
    };
    let flag = |f: Field, suffix: &str| -> Result<bool, RowError> {
        let cell = get(f);
        if cell.is_empty() {
            return Ok(false);
        }
        parse_bool(cell).ok_or_else(|| {
            row_err(
                "INVALID_BOOLEAN",
                format!(
                    "{}: {cell:?} is not yes/no, true/false or 1/0",
                    column(suffix)
                ),
            )
        })
    };
    let mut contact = Contact {
        name: get(Field::Name).to_owned(),
        company: get(Field::Company).to_owned(),
        vat: get(Field::Vat).to_owned(),
        address: get(Field::Address).to_owned(),
        city: get(Field::City).to_owned(),
        postal_code: get(Field::PostalCode).to_owned(),
        country: get(Field::Country).to_owned(),
        email: get(Field::Email).to_owned(),
        website: get(Field::Website).to_owned(),
        phone: phone(Field::Phone, "phone")?,
        mobile: phone(Field::Mobile, "mobile_nr")?,
        language: get(Field::Language).to_ascii_lowercase(),
        language_confirmed: flag(Field::LanguageConfirmed, "language_confirmed")?,
        wa_preferred: flag(Field::WaPreferred, "wa_preferred")?,
        custom: Map::new(),
    };
    let side = if label == "invoice" {
        Visibility::Invoice
    } else {
        Visibility::Delivery
    };
    for (key, cell) in &cells.custom {
        let Some((def, re)) = defs.get(key) else {
            continue;
        };
        let value = custom_value(def, re.as_ref(), cell, region).map_err(|e| {
            row_err(
                "INVALID_VALUE",
                format!("{}: {e}", column(&format!("custom_{key}"))),
            )
        })?;
        contact.custom.insert((*key).to_owned(), value);
    }
    for def in defs.required_for(side) {
        if !contact.custom.contains_key(&def.key) {
            match &def.default {
                Some(v) if !v.is_null() => {
                    contact.custom.insert(def.key.clone(), v.clone());
                }
                _ => {
                    return Err(row_err(
                        "MISSING_REQUIRED",
                        format!("{} is required", column(&format!("custom_{}", def.key))),
                    ));
                }
            }
        }
    }
    let tags = get(Field::Tags)
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((contact, tags, flag(Field::OptOut, "opt_out")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::layout::Target;

    fn def(key: &str, kind: &str, required: bool) -> FieldDef {
        FieldDef {
            id: key.into(),
            key: key.into(),
            label: key.into(),
            kind: kind.parse().expect("kind"),
            required,
            options: if kind == "enum" {
                vec!["North".into(), "South".into()]
            } else {
                Vec::new()
            },
            regex: None,
            default: None,
            visibility: Visibility::Both,
            order: 0,
        }
    }

    fn setup(header: &[&str], defs: Vec<FieldDef>) -> (Layout, Definitions) {
        let defs = Definitions::new(defs);
        (
            Layout::from_header(header, &defs.keys(), Target::Prospects, false).expect("layout"),
            defs,
        )
    }

    #[test]
    fn a_full_row_with_deliveries_and_opt_outs() {
        let (layout, defs) = setup(
            &[
                "invoice_contact_name",
                "invoice_phone",
                "invoice_tags",
                "invoice_opt_out",
                "custom_region",
                "delivery_1_phone",
                "delivery1_contact_name",
                "delivery_1_opt_out",
                "delivery_2_city",
            ],
            vec![def("region", "enum", false)],
        );
        let row = parse(
            &layout,
            &[
                "Acme",
                "02 511 12 34",
                "VIP; north",
                "nee",
                "north",
                "0475 12 34 56",
                "Depot",
                "ja",
                "Gent",
            ],
            &defs,
            Region::default(),
        )
        .expect("row");
        assert_eq!(row.customer.invoice.phone.as_deref(), Some("+3225111234"));
        assert_eq!(row.customer.tags, vec!["VIP", "north"]);
        assert_eq!(row.customer.invoice.custom["region"], "North");
        assert_eq!(row.customer.deliveries.len(), 2);
        assert_eq!(row.customer.deliveries[0].code, "delivery_1");
        assert_eq!(row.customer.deliveries[0].contact.name, "Depot");
        assert_eq!(row.customer.deliveries[1].contact.city, "Gent");
        assert_eq!(row.opt_out_phones, vec!["+32475123456"]);
    }

    #[test]
    fn errors_name_the_column() {
        let (layout, defs) = setup(
            &[
                "invoice_contact_name",
                "invoice_email",
                "invoice_phone",
                "invoice_language_confirmed",
                "custom_credit",
            ],
            vec![def("credit", "number", false)],
        );
        let parse_row = |cells: &[&str]| parse(&layout, cells, &defs, Region::default());
        let e = parse_row(&["A", "", "12", "", ""]).expect_err("phone");
        assert_eq!(
            (e.code, e.message.contains("invoice_phone")),
            ("INVALID_PHONE", true)
        );
        let e = parse_row(&["A", "", "02 511 12 34", "maybe", ""]).expect_err("bool");
        assert_eq!(
            (e.code, e.message.contains("invoice_language_confirmed")),
            ("INVALID_BOOLEAN", true)
        );
        let e = parse_row(&["A", "", "02 511 12 34", "", "lots"]).expect_err("number");
        assert_eq!(
            (e.code, e.message.contains("custom_credit")),
            ("INVALID_VALUE", true)
        );
        let e = parse_row(&["A", "", "", "", ""]).expect_err("key");
        assert_eq!(e.code, "MISSING_REQUIRED");
        let ok = parse_row(&["A", "a@x.be", "", "1", "1234,5"]).expect("name + email is a key");
        assert_eq!(ok.customer.invoice.custom["credit"], 1234.5);
        assert!(ok.customer.invoice.language_confirmed);
        let e = parse_row(&["A\u{FFFD}", "a@x.be", "", "", ""]).expect_err("encoding");
        assert_eq!(e.code, "INVALID_ENCODING");
    }

    #[test]
    fn delivery_rows_need_a_parent_and_a_place() {
        let defs = Definitions::new(vec![def("dock", "number", false)]);
        let layout = Layout::from_header(
            &[
                "parent_email",
                "parent_invoice_phone",
                "delivery_phone",
                "delivery_address",
                "delivery_opt_out",
                "custom_dock",
            ],
            &defs.keys(),
            Target::Deliveries,
            false,
        )
        .expect("layout");
        let p = |cells: &[&str]| parse_delivery(&layout, cells, &defs, Region::default());
        let ok = p(&["A@X.be", "02 511 12 34", "0475 12 34 56", "", "yes", "3"]).expect("row");
        assert_eq!(
            ok.delivery.parent,
            vec![
                ParentKey::Phone("+3225111234".into()),
                ParentKey::Email("a@x.be".into())
            ]
        );
        assert_eq!(ok.opt_out_phones, vec!["+32475123456"]);
        assert_eq!(ok.delivery.delivery.contact.custom["dock"], 3.0);
        assert_eq!(
            p(&["", "", "0475 12 34 56", "", "", ""])
                .expect_err("parent")
                .code,
            "MISSING_PARENT_KEY"
        );
        assert_eq!(
            p(&["a@x.be", "", "", "", "", ""]).expect_err("place").code,
            "MISSING_REQUIRED"
        );
        let e = p(&["a@x.be", "12", "", "Street 1", "", ""]).expect_err("phone");
        assert!(e.message.starts_with("parent_invoice_phone"), "{e:?}");
        let e = p(&["a@x.be", "", "", "Street 1", "", "x"]).expect_err("custom");
        assert!(e.message.starts_with("custom_dock"), "{e:?}");
    }

    #[test]
    fn required_custom_fields_use_their_default() {
        let mut with_default = def("segment", "string", true);
        with_default.default = Some(Value::from("smb"));
        let (layout, defs) = setup(
            &["invoice_phone", "custom_segment"],
            vec![with_default, def("owner", "string", true)],
        );
        let e = parse(&layout, &["02 511 12 34", ""], &defs, Region::default())
            .expect_err("owner missing");
        assert!(e.message.contains("custom_owner"), "{e:?}");
    }
}
