//! What differs between the kinds of caller: a phone speaks G.711 at 8 kHz in the
//! call's codec, a browser (Agent Studio) PCM16 at 24 kHz. The recording is µ-law
//! 8 kHz for both, so a browser's audio is resampled on its way there (one resampler
//! per direction: each keeps its filter state across chunks).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::SAMPLE_RATE;
use crate::g711::{self, Codec};
use crate::resample::Resampler;

/// Browser audio rate (PCM16 mono).
pub const BROWSER_RATE: u32 = 24_000;

/// Most bytes one browser audio message may carry (1 s of 24 kHz PCM16).
const BROWSER_CHUNK_MAX: usize = 48_000;

pub enum Leg {
    /// Telnyx media frames; the agent speaks the call's codec.
    Phone,
    /// A browser; the agent speaks 24 kHz PCM16 (the filters boxed: a phone call's
    /// core does not carry their size).
    Browser {
        caller_down: Box<Resampler>,
        agent_down: Box<Resampler>,
    },
}

impl Leg {
    pub fn browser() -> Self {
        Self::Browser {
            caller_down: Box::new(Resampler::new(BROWSER_RATE, 8000, 16)),
            agent_down: Box::new(Resampler::new(BROWSER_RATE, 8000, 16)),
        }
    }

    pub fn is_browser(&self) -> bool {
        matches!(self, Self::Browser { .. })
    }

    /// A browser audio message's bytes (`None`: not base64, empty, odd or too long).
    pub(super) fn decode(&self, b64: &str) -> Option<Vec<u8>> {
        if b64.len() > BROWSER_CHUNK_MAX * 4 / 3 + 4 {
            return None;
        }
        let bytes = STANDARD.decode(b64).ok()?;
        (!bytes.is_empty() && bytes.len() % 2 == 0).then_some(bytes)
    }

    /// Milliseconds of agent audio in `bytes`.
    pub(super) fn agent_ms(&self, bytes: usize) -> u64 {
        match self {
            Self::Phone => bytes as u64 * 1000 / SAMPLE_RATE,
            Self::Browser { .. } => bytes as u64 * 1000 / (u64::from(BROWSER_RATE) * 2),
        }
    }

    /// The caller's audio as the recording's µ-law 8 kHz (a phone's, in place).
    pub(super) fn caller_ulaw(&mut self, codec: Codec, bytes: Vec<u8>) -> Vec<u8> {
        match self {
            Self::Phone => to_ulaw(codec, bytes),
            Self::Browser { caller_down, .. } => down(caller_down, &bytes),
        }
    }

    /// The agent's audio as the recording's µ-law 8 kHz (a phone's, in place).
    pub(super) fn agent_ulaw(&mut self, codec: Codec, bytes: Vec<u8>) -> Vec<u8> {
        match self {
            Self::Phone => to_ulaw(codec, bytes),
            Self::Browser { agent_down, .. } => down(agent_down, &bytes),
        }
    }
}

/// The call's codec bytes as µ-law, in place.
pub(super) fn to_ulaw(codec: Codec, mut bytes: Vec<u8>) -> Vec<u8> {
    if codec == Codec::Pcma {
        for b in &mut bytes {
            *b = g711::linear_to_ulaw(g711::alaw_to_linear(*b));
        }
    }
    bytes
}

/// 24 kHz PCM16 (little-endian) to 8 kHz µ-law.
fn down(resampler: &mut Resampler, bytes: &[u8]) -> Vec<u8> {
    let pcm: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    resampler
        .process(&pcm)
        .into_iter()
        .map(g711::linear_to_ulaw)
        .collect()
}
