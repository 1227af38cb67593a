//! Text decoding for uploaded CSV files: UTF-8 with or without BOM, or Windows-1252
//! as Excel writes it on Western-European systems.
//!
//! The encoding is decided once, at the first non-ASCII byte: if the buffered window
//! from there on is valid UTF-8 the file is UTF-8, otherwise Windows-1252. Everything
//! before that byte was ASCII, which both encodings read the same, so nothing already
//! emitted changes meaning. The output is always valid UTF-8: a malformed sequence in
//! a UTF-8 file becomes U+FFFD, which the row parser reports as `INVALID_ENCODING`.

use std::io::{self, Read};

use encoding_rs::{Decoder, UTF_8, WINDOWS_1252};

const CHUNK: usize = 64 * 1024;

/// What the reader decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Only ASCII so far.
    Ascii,
    Utf8,
    Utf8WithBom,
    Windows1252,
}

pub struct DecodingReader<R> {
    inner: R,
    detected: Detected,
    decoder: Option<Decoder>,
    started: bool,
    eof: bool,
    /// Decoded bytes not yet handed out.
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> DecodingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            detected: Detected::Ascii,
            decoder: None,
            started: false,
            eof: false,
            out: Vec::new(),
            pos: 0,
        }
    }

    pub fn detected(&self) -> Detected {
        self.detected
    }

    fn read_chunk(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        // Fill the chunk (or reach EOF) so detection sees a real window, not one byte.
        while filled < chunk.len() {
            match self.inner.read(&mut chunk[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        chunk.truncate(filled);
        Ok(chunk)
    }

    fn decode(&mut self, bytes: &[u8], last: bool) {
        let Some(decoder) = self.decoder.as_mut() else {
            self.out.extend_from_slice(bytes);
            return;
        };
        let mut text = String::with_capacity(bytes.len() * 2 + 16);
        let mut src = bytes;
        loop {
            let needed = decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(src.len() * 3 + 16);
            text.reserve(needed);
            let (result, read, _) = decoder.decode_to_string(src, &mut text, last);
            src = &src[read..];
            if matches!(result, encoding_rs::CoderResult::InputEmpty) {
                break;
            }
        }
        self.out.extend_from_slice(text.as_bytes());
    }

    fn fill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() && !self.eof {
            let mut chunk = self.read_chunk()?;
            if !self.started {
                self.started = true;
                if chunk.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    chunk.drain(..3);
                    self.detected = Detected::Utf8WithBom;
                    self.decoder = Some(UTF_8.new_decoder_without_bom_handling());
                }
            }
            if self.decoder.is_none() {
                match chunk.iter().position(|b| !b.is_ascii()) {
                    None => {
                        self.out.extend_from_slice(&chunk);
                        continue;
                    }
                    Some(i) => {
                        self.out.extend_from_slice(&chunk[..i]);
                        chunk.drain(..i);
                        let utf8 = loop {
                            if let Some(verdict) = looks_utf8(&chunk, self.eof) {
                                break verdict;
                            }
                            let more = self.read_chunk()?;
                            chunk.extend_from_slice(&more);
                        };
                        let (detected, encoding) = if utf8 {
                            (Detected::Utf8, UTF_8)
                        } else {
                            (Detected::Windows1252, WINDOWS_1252)
                        };
                        self.detected = detected;
                        self.decoder = Some(encoding.new_decoder_without_bom_handling());
                    }
                }
            }
            let last = self.eof;
            self.decode(&chunk, last);
        }
        Ok(())
    }
}

/// Whether `window` reads as UTF-8: at least one valid multi-byte character, and no
/// more malformed sequences than valid ones (Windows-1252 accents are almost never
/// valid UTF-8; a stray bad byte in a UTF-8 file does not flip the whole file).
/// `None` while the window holds only a cut-off sequence (read more, then decide).
fn looks_utf8(window: &[u8], at_eof: bool) -> Option<bool> {
    let lead_bytes = |b: &[u8]| b.iter().filter(|x| **x >= 0xC0).count();
    let (mut valid, mut invalid) = (0usize, 0usize);
    let mut rest = window;
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                valid += lead_bytes(rest);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                valid += lead_bytes(good);
                match e.error_len() {
                    Some(n) => {
                        invalid += 1;
                        rest = &bad[n..];
                    }
                    None => {
                        // Cut off by the window: only a real error at the end of input.
                        if at_eof {
                            invalid += 1;
                        }
                        break;
                    }
                }
            }
        }
    }
    if valid == 0 && invalid == 0 && !at_eof {
        return None;
    }
    Some(valid > 0 && valid >= invalid)
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (String, Detected) {
        let mut r = DecodingReader::new(bytes);
        let mut out = String::new();
        r.read_to_string(&mut out).expect("valid UTF-8 out");
        (out, r.detected())
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(
            decode_all("a;Ménard\r\n".as_bytes()),
            ("a;Ménard\r\n".to_owned(), Detected::Utf8)
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("x;Zoë".as_bytes());
        assert_eq!(
            decode_all(&bom),
            ("x;Zoë".to_owned(), Detected::Utf8WithBom)
        );
        assert_eq!(
            decode_all(b"plain,ascii"),
            ("plain,ascii".to_owned(), Detected::Ascii)
        );
        assert_eq!(decode_all(b""), (String::new(), Detected::Ascii));
    }

    #[test]
    fn windows_1252_from_excel() {
        // "Société Générale;Liège;€5" in Windows-1252.
        let bytes = b"Soci\xe9t\xe9 G\xe9n\xe9rale;Li\xe8ge;\x805";
        assert_eq!(
            decode_all(bytes),
            (
                "Société Générale;Liège;€5".to_owned(),
                Detected::Windows1252
            )
        );
    }

    #[test]
    fn decision_after_a_long_ascii_prefix_spans_chunks() {
        let mut bytes = vec![b'a'; CHUNK + 10];
        bytes.extend_from_slice(b"Caf\xe9");
        let (text, detected) = decode_all(&bytes);
        assert_eq!(detected, Detected::Windows1252);
        assert!(text.ends_with("Café"));
        assert_eq!(text.len(), CHUNK + 10 + "Café".len());
        // A UTF-8 sequence cut by the chunk boundary stays UTF-8.
        let mut split = vec![b'a'; CHUNK - 1];
        split.extend_from_slice("é and more é".as_bytes());
        let (text, detected) = decode_all(&split);
        assert_eq!(detected, Detected::Utf8);
        assert!(text.ends_with("é and more é"));
    }

    #[test]
    fn broken_utf8_later_becomes_replacement_characters() {
        let (text, detected) = decode_all(b"caf\xc3\xa9;cr\xc3\xa8me;Zo\xc3\xab\n\xff;bad");
        assert_eq!(
            detected,
            Detected::Utf8,
            "one stray byte does not flip a UTF-8 file"
        );
        assert!(text.starts_with("café;crème;Zoë\n"));
        assert!(text.contains("\u{FFFD};bad"));
    }
}
