//! A CSV source as the importers read it: decoded (UTF-8 or Windows-1252), delimiter
//! detected from the header line, blank rows skipped, and every record paired with its
//! spreadsheet row number (the header is row 1, blank rows count, a line break inside a
//! quoted cell does not).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use serde_json::{Map, Value};

use super::decode::{DecodingReader, Detected};
use super::layout::{detect_delimiter, LayoutError};
use super::run::ImportError;

const HEADER_PEEK: usize = 64 * 1024;

/// Numbers the rows as a spreadsheet does while the bytes pass by: every record is a
/// row, blank ones included; a line break inside a quoted cell is not. Quoting follows
/// the csv crate's reading (a quote opens a cell only at its start, `""` is a quote).
/// The queue holds the row numbers of the non-blank records, the ones the csv reader
/// yields, in order.
struct RowNumbers<R> {
    inner: R,
    delimiter: u8,
    state: ScanState,
    row: u64,
    row_has_content: bool,
    queue: Rc<RefCell<VecDeque<u64>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScanState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl<R> RowNumbers<R> {
    fn end_row(&mut self) {
        if self.row_has_content {
            self.queue.borrow_mut().push_back(self.row);
        }
        self.row += 1;
        self.row_has_content = false;
        self.state = ScanState::FieldStart;
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b != b'\r' && b != b'\n' {
                self.row_has_content = true;
            }
            self.state = match (self.state, b) {
                (ScanState::Quoted, b'"') => ScanState::QuoteInQuoted,
                (ScanState::Quoted, _) => {
                    if b == b'\n' || b == b'\r' {
                        self.row_has_content = true;
                    }
                    ScanState::Quoted
                }
                (ScanState::QuoteInQuoted, b'"') => ScanState::Quoted,
                (ScanState::FieldStart, b'"') => ScanState::Quoted,
                (_, b'\n') => {
                    self.end_row();
                    continue;
                }
                (_, b'\r') => self.state,
                (_, d) if d == self.delimiter => ScanState::FieldStart,
                _ => ScanState::Unquoted,
            };
        }
    }
}

impl<R: Read> Read for RowNumbers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            // A last row without a line break.
            if self.row_has_content {
                self.end_row();
            }
        } else {
            self.scan(&buf[..n]);
        }
        Ok(n)
    }
}

type Source<R> = RowNumbers<BufReader<DecodingReader<R>>>;

pub struct Records<R: Read> {
    csv: csv::Reader<Source<R>>,
    rows: Rc<RefCell<VecDeque<u64>>>,
    pub delimiter: u8,
    /// Header names, trimmed.
    pub header: Vec<String>,
}

impl<R: Read> Records<R> {
    /// Detects the delimiter and reads the header row.
    pub fn open(source: R) -> Result<Self, ImportError> {
        let mut reader = BufReader::with_capacity(HEADER_PEEK, DecodingReader::new(source));
        let peek = reader
            .fill_buf()
            .map_err(|e| ImportError::Read(e.to_string()))?;
        if peek.is_empty() {
            return Err(LayoutError::Empty.into());
        }
        let line_end = peek.iter().position(|b| *b == b'\n').unwrap_or(peek.len());
        let delimiter = detect_delimiter(&String::from_utf8_lossy(&peek[..line_end]));
        // The peek consumed nothing: the numbering sees the file from its first byte.
        let rows = Rc::new(RefCell::new(VecDeque::new()));
        let numbered = RowNumbers {
            inner: reader,
            delimiter,
            state: ScanState::FieldStart,
            row: 1,
            row_has_content: false,
            queue: Rc::clone(&rows),
        };
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(numbered);
        let mut header = csv::StringRecord::new();
        if !csv
            .read_record(&mut header)
            .map_err(|e| ImportError::Read(e.to_string()))?
        {
            return Err(LayoutError::Empty.into());
        }
        rows.borrow_mut().pop_front();
        let header = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
            .collect();
        Ok(Self {
            csv,
            rows,
            delimiter,
            header,
        })
    }

    /// The next non-blank record and its row number.
    pub fn next_record(&mut self) -> Option<Result<(u64, csv::StringRecord), ImportError>> {
        loop {
            let mut record = csv::StringRecord::new();
            match self.csv.read_record(&mut record) {
                Ok(false) => return None,
                Err(e) => return Some(Err(ImportError::Read(e.to_string()))),
                Ok(true) => {
                    let row = self.rows.borrow_mut().pop_front().unwrap_or(0);
                    if record.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    // Cells our exports neutralised (`'=...`) come back as they were.
                    if record.iter().any(|c| crate::csv_out::restore(c).is_some()) {
                        record = record
                            .iter()
                            .map(|c| crate::csv_out::restore(c).unwrap_or(c))
                            .collect();
                    }
                    return Some(Ok((row, record)));
                }
            }
        }
    }

    /// The encoding the decoder settled on (final once the file has been read).
    pub fn encoding(&self) -> &'static str {
        match self.csv.get_ref().inner.get_ref().detected() {
            Detected::Ascii | Detected::Utf8 => "utf-8",
            Detected::Utf8WithBom => "utf-8 (bom)",
            Detected::Windows1252 => "windows-1252",
        }
    }

    /// The row's cells by header name, for a report.
    /// A failed row's cells by header name for the report, bounded: each cell at most
    /// [`REPORT_CELL_CHARS`] characters and the row at most [`REPORT_ROW_CHARS`] (later
    /// cells left empty), so a report is never much bigger than the rows it lists. The
    /// flag says whether anything was cut.
    pub fn original_row(&self, cells: &[&str]) -> (Map<String, Value>, bool) {
        let mut budget = REPORT_ROW_CHARS;
        let mut truncated = false;
        let row = self
            .header
            .iter()
            .zip(cells)
            .map(|(n, c)| {
                let keep = clip(c, REPORT_CELL_CHARS.min(budget));
                truncated |= keep.len() < c.len();
                budget -= keep.chars().count();
                (n.clone(), Value::String(keep.to_owned()))
            })
            .collect();
        (row, truncated)
    }
}

/// How much of one cell a report repeats.
pub const REPORT_CELL_CHARS: usize = 256;
/// How much of one row a report repeats.
pub const REPORT_ROW_CHARS: usize = 4096;

/// The first `max` characters of `text`.
pub fn clip(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(text: &str, delimiter: u8) -> Vec<u64> {
        let queue = Rc::new(RefCell::new(VecDeque::new()));
        let mut r = RowNumbers {
            inner: text.as_bytes(),
            delimiter,
            state: ScanState::FieldStart,
            row: 1,
            row_has_content: false,
            queue: Rc::clone(&queue),
        };
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).expect("read");
        let out = queue.borrow().iter().copied().collect();
        out
    }

    #[test]
    fn rows_as_a_spreadsheet_counts_them() {
        // header, stray quote mid-cell (literal), a quoted cell with "" and a line
        // break, a blank line, a last row without a line break.
        let text = "h1,h2\r\nab\"c,1\r\n\"x\"\"y\r\nz\",2\r\n\r\nlast,3";
        assert_eq!(numbers(text, b','), vec![1, 2, 3, 5]);
        assert_eq!(numbers("a;b\n\"1;2\";3\n", b';'), vec![1, 2]);
        assert_eq!(numbers("", b','), Vec::<u64>::new());
    }
}
