//! Test tones: the operator's microphone as the console sends it, and a Goertzel
//! filter to tell which tone a caller heard.

use serde_json::json;

/// Goertzel power of `freq` in `samples`.
pub fn power(samples: &[i16], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
}

/// Whether one second of µ-law a caller heard carries the operator's `freq` tone (its
/// settled middle, a hundred times the 2 kHz bin).
pub fn caller_heard_tone(second: &[u8], freq: f64) -> bool {
    let heard: Vec<i16> = second
        .iter()
        .map(|b| agent5_bridge::g711::ulaw_to_linear(*b))
        .collect();
    let settled = &heard[2000..6000];
    power(settled, freq, 8000.0) > 100.0 * power(settled, 2000.0, 8000.0)
}

/// `seconds` of a `freq` tone at 48 kHz, as the console sends the microphone (20 ms
/// chunks).
pub fn mic_chunks(freq: f64, seconds: usize) -> Vec<String> {
    use base64::Engine;
    (0..seconds * 50)
        .map(|c| {
            let bytes: Vec<u8> = (0..960)
                .flat_map(|i| {
                    let t = (c * 960 + i) as f64 / 48_000.0;
                    ((8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16).to_le_bytes()
                })
                .collect();
            json!({"type": "audio", "audio": base64::engine::general_purpose::STANDARD.encode(bytes)}).to_string()
        })
        .collect()
}
