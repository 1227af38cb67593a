//! G.711 µ-law and A-law (ITU-T G.711): one byte per sample at 8 kHz. Decoding to
//! linear PCM16 and encoding back, so A-law callers can be recorded as µ-law and
//! browser audio can reach the phone.

/// The codec of a call's media stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// From `start.media_format.encoding` (`PCMU` / `PCMA`, any case).
    pub fn parse(encoding: &str) -> Option<Self> {
        match encoding.to_ascii_uppercase().as_str() {
            "PCMU" | "G711U" | "MULAW" | "ULAW" => Some(Self::Pcmu),
            "PCMA" | "G711A" | "ALAW" => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The OpenAI Realtime format type for this codec (audio passes through as is).
    pub fn realtime_format(self) -> &'static str {
        match self {
            Self::Pcmu => "audio/pcmu",
            Self::Pcma => "audio/pcma",
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Self::Pcmu => ulaw_to_linear(byte),
            Self::Pcma => alaw_to_linear(byte),
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Self::Pcmu => linear_to_ulaw(sample),
            Self::Pcma => linear_to_alaw(sample),
        }
    }

    /// The byte that encodes silence.
    pub fn silence(self) -> u8 {
        match self {
            Self::Pcmu => 0xFF,
            Self::Pcma => 0xD5,
        }
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

pub const fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    let v = if sign != 0 { -magnitude } else { magnitude };
    v as i16
}

/// The square of each µ-law byte's linear sample (for levels: a lookup and an integer
/// sum per sample instead of a decode and a float multiply).
pub const ULAW_SQUARES: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        let s = ulaw_to_linear(b as u8) as i32;
        table[b] = (s * s) as u32;
        b += 1;
    }
    table
};

pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3;
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0x00
    };
    let s = s.min(0x0FFF);
    let (exponent, mantissa) = if s < 32 {
        (0, s >> 1)
    } else {
        let mut e = 1;
        while e < 7 && s >= (32 << e) {
            e += 1;
        }
        (e, (s >> e) & 0x0F)
    };
    ((sign | (exponent << 4) | mantissa) ^ 0x55) as u8
}

pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = i32::from(byte ^ 0x55);
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = a & 0x0F;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    let v = if sign != 0 { magnitude } else { -magnitude };
    v as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_code() {
        for b in 0..=255u8 {
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0 and re-encode to 0xFF.
            let back = linear_to_ulaw(ulaw_to_linear(b));
            assert!(
                back == b || (ulaw_to_linear(b) == 0 && back == 0xFF),
                "ulaw {b:#x} -> {back:#x}"
            );
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "alaw {b:#x}");
        }
    }

    #[test]
    fn known_values_and_silence() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(Codec::parse("pcma"), Some(Codec::Pcma));
        assert_eq!(Codec::parse("opus"), None);
        // Quantisation error stays within the segment step.
        for s in [-30_000i16, -1000, -1, 0, 1, 1000, 30_000] {
            let e = (i32::from(ulaw_to_linear(linear_to_ulaw(s))) - i32::from(s)).abs();
            assert!(e <= 1024, "{s}: {e}");
            let e = (i32::from(alaw_to_linear(linear_to_alaw(s))) - i32::from(s)).abs();
            assert!(e <= 1024, "{s}: {e}");
        }
    }
}
