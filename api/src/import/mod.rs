//! CSV import of prospects and deliveries: decoding, header layout, and row parsing. Each stage is a
//! plain function or reader over `std::io::Read`, so the HTTP upload and the
//! `agent5 import` command run the same code.

pub mod decode;
pub mod dnc;
pub mod layout;
pub mod records;
pub mod row;
pub mod run;

pub use layout::Target;
pub use run::{import_deliveries, import_prospects, ImportError, Options, Report};
