//! The answer of every paged list: `{items, page, page_size, has_more}`.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
    /// Whether a next page has at least one item.
    pub has_more: bool,
}
