//! One WebSocket frame on the wire (RFC 6455 section 5.2): reading a header from the
//! bytes received so far, writing one in front of a payload, and the XOR mask.

/// Opcodes this side knows (section 5.2); the others are errors.
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A control frame's payload is at most this long (section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's header, read in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    /// RSV1-3 as they came (no extension is negotiated, so any bit set is an error).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// The header's own length.
    pub len: usize,
    /// The payload's length as the header states it.
    pub payload: u64,
}

impl Header {
    /// Reads a header from the start of `buf`: `Ok(None)` while it is incomplete,
    /// `Err(())` when its length is not a valid 64-bit length (most significant bit
    /// set, section 5.2).
    pub fn parse(buf: &[u8]) -> Result<Option<Header>, ()> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let (payload, rest, len) = match b1 & 0x7F {
            126 => match rest {
                [a, b, rest @ ..] => (u64::from(u16::from_be_bytes([*a, *b])), rest, 4),
                _ => return Ok(None),
            },
            127 => match rest.split_first_chunk::<8>() {
                Some((n, rest)) => (u64::from_be_bytes(*n), rest, 10),
                None => return Ok(None),
            },
            n => (u64::from(n), rest, 2),
        };
        if payload >> 63 != 0 {
            return Err(());
        }
        let (mask, len) = if b1 & 0x80 == 0 {
            (None, len)
        } else {
            match rest.first_chunk::<4>() {
                Some(key) => (Some(*key), len + 4),
                None => return Ok(None),
            }
        };
        Ok(Some(Header {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0F,
            mask,
            len,
            payload,
        }))
    }

    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Appends a final frame's header for a payload of `len` bytes.
pub fn write_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    let masked = if mask.is_some() { 0x80 } else { 0 };
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(masked | len as u8),
        126..=0xFFFF => {
            out.push(masked | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(masked | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// XORs `data` with `key` (section 5.3), eight bytes at a time; the same call masks
/// and unmasks.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Whole chunks are a multiple of the key's length: the rest starts at key[0].
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_length_form_read_back() {
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                write_header(&mut out, TEXT, len, mask);
                let expected = header_len + if mask.is_some() { 4 } else { 0 };
                assert_eq!(out.len(), expected);
                let h = Header::parse(&out).unwrap().unwrap();
                assert_eq!((h.fin, h.rsv, h.opcode), (true, 0, TEXT));
                assert_eq!((h.len, h.payload, h.mask), (expected, len as u64, mask));
                for cut in 0..out.len() {
                    assert_eq!(Header::parse(&out[..cut]), Ok(None), "{len} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn a_length_with_its_top_bit_set_is_refused() {
        let mut h = vec![0x81, 127];
        h.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(Header::parse(&h), Err(()));
    }

    #[test]
    fn reserved_bits_and_opcode_are_reported_as_they_came() {
        let h = Header::parse(&[0x7B, 0x00]).unwrap().unwrap();
        assert_eq!((h.fin, h.rsv, h.opcode), (false, 7, 0xB));
        assert!(h.is_control());
    }

    #[test]
    fn masking_twice_gives_the_data_back_at_every_length() {
        let key = [0x37, 0xFA, 0x21, 0x3D];
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut masked = data.clone();
            apply_mask(&mut masked, key);
            for (i, (m, d)) in masked.iter().zip(&data).enumerate() {
                assert_eq!(*m, d ^ key[i % 4]);
            }
            apply_mask(&mut masked, key);
            assert_eq!(masked, data);
        }
    }
}
