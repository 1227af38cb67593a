//! Rational-ratio resampling of PCM16 with a polyphase windowed-sinc FIR (Kaiser
//! window): 8 kHz call audio up to the 16/24/48 kHz a browser asks for, and browser
//! audio down to 8 kHz. Every input sample contributes; the low-pass at the lower
//! Nyquist frequency keeps images and aliases out. Stateful across chunks.

/// Greatest common divisor.
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Zeroth-order modified Bessel function (Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    for k in 1..50 {
        term *= (x / 2.0) / f64::from(k);
        sum += term * term;
        if term * term < 1e-12 * sum {
            break;
        }
    }
    sum
}

/// Lanes of the inner loops: eight f32 multiply-adds side by side, which the compiler
/// turns into SIMD instructions.
const LANES: usize = 8;

#[derive(Debug, Clone)]
pub struct Resampler {
    up: usize,
    down: usize,
    /// Samples of the lower rate the filter spans (per phase).
    taps: usize,
    /// `phases[p * taps + k]`: phase p's coefficient for the k-th oldest sample of the
    /// window.
    phases: Vec<f32>,
    /// When each input sample yields every phase (`down == 1`, `up <= LANES`):
    /// `by_tap[k * LANES + p]` = `phases[p * taps + k]`, so one pass over the window
    /// computes all the sample's outputs at once, one per lane.
    by_tap: Vec<f32>,
    /// The filter memory twice over: the sample written at `i` is also at `i + taps`,
    /// so the last `taps` samples are always one slice (no shifting per sample).
    history: Vec<f32>,
    /// Where the next input sample goes, `0..taps`.
    next: usize,
    /// Position in the upsampled stream, modulo `up`, of the next output.
    phase: usize,
    /// The CPU has AVX2: [`Resampler::process`] runs its AVX2 build.
    avx2: bool,
}

/// A dot product in [`LANES`] independent sums.
fn dot(coeffs: &[f32], window: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (c, w) = (coeffs.chunks_exact(LANES), window.chunks_exact(LANES));
    let tail: f32 = c
        .remainder()
        .iter()
        .zip(w.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (c, w) in c.zip(w) {
        for lane in 0..LANES {
            acc[lane] += c[lane] * w[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Every phase's output for one window (`by_tap` laid out as in [`Resampler`]), one
/// lane each. Four sums side by side, each over every fourth tap: one sum would make
/// each multiply-add wait for the one before it (the adds' latency, not their count,
/// bounded the loop).
#[inline(always)]
fn all_phases(window: &[f32], by_tap: &[f32]) -> [i16; LANES] {
    let mut acc = [[0f32; LANES]; 4];
    let (w, c) = (window.chunks_exact(4), by_tap.chunks_exact(4 * LANES));
    let mut tail = [0f32; LANES];
    for (x, c) in w.remainder().iter().zip(c.remainder().chunks_exact(LANES)) {
        for lane in 0..LANES {
            tail[lane] += c[lane] * x;
        }
    }
    for (x, c) in w.zip(c) {
        for (j, acc) in acc.iter_mut().enumerate() {
            for lane in 0..LANES {
                acc[lane] += c[j * LANES + lane] * x[j];
            }
        }
    }
    let mut out = [0i16; LANES];
    for lane in 0..LANES {
        let v = (acc[0][lane] + acc[1][lane]) + (acc[2][lane] + acc[3][lane]) + tail[lane];
        out[lane] = to_i16(v);
    }
    out
}

/// 1.5 * 2^23: added to a value of magnitude below 2^22, it leaves the value rounded
/// to an integer (ties to even) in the low bits of the mantissa.
const ROUND: f32 = 12_582_912.0;

/// Rounds to the nearest integer (ties to even) and saturates to i16, without a libm
/// call or a float-to-int conversion.
fn to_i16(v: f32) -> i16 {
    // `max`/`min` (unlike `clamp`) also map NaN into range. Adding 1.5 * 2^23 rounds to
    // the nearest integer in the FPU and leaves it in the mantissa: plain integer
    // work, eight lanes at a time (`as` saturates, checks NaN and does not vectorise).
    #[allow(clippy::manual_clamp)]
    let v = v.max(-32768.0).min(32767.0) + ROUND;
    // The sum's low mantissa bits now hold the integer: two's complement, offset by
    // ROUND's own bits (both below 2^31, so the casts keep their values).
    (v.to_bits() as i32 - ROUND.to_bits() as i32) as i16
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

impl Resampler {
    /// From `from` Hz to `to` Hz. `taps_per_phase` sets quality (16 is plenty for speech):
    /// the filter spans that many samples of the lower rate.
    pub fn new(from: u32, to: u32, taps_per_phase: usize) -> Self {
        let g = gcd(from, to).max(1);
        let up = (to / g) as usize;
        let down = (from / g) as usize;
        // Long enough for the narrower band of the two rates, whole phases.
        let taps = (taps_per_phase * up.max(down)).div_ceil(up);
        let len = taps * up;
        // Cut-off at the lower Nyquist, normalised to the upsampled rate.
        let cutoff = 0.5 / up.max(down) as f64 * 0.95;
        let beta = 7.0;
        let center = (len as f64 - 1.0) / 2.0;
        let i0b = bessel_i0(beta);
        let mut h = vec![0f64; len];
        for (n, v) in h.iter_mut().enumerate() {
            let x = n as f64 - center;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
            };
            let r = x / center.max(1.0);
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
            // Gain `up` restores the level lost by zero-stuffing.
            *v = sinc * w * up as f64;
        }
        // Tap j of phase p weighs the j-th newest sample: the k-th oldest is j = taps-1-k.
        let coeff = |p: usize, k: usize| h[(taps - 1 - k) * up + p] as f32;
        let phases = (0..up)
            .flat_map(|p| (0..taps).map(move |k| (p, k)))
            .map(|(p, k)| coeff(p, k))
            .collect();
        let by_tap = if down == 1 && up <= LANES {
            (0..taps)
                .flat_map(|k| (0..LANES).map(move |p| (k, p)))
                .map(|(k, p)| if p < up { coeff(p, k) } else { 0.0 })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            up,
            down,
            taps,
            phases,
            by_tap,
            history: vec![0.0; 2 * taps],
            next: 0,
            phase: 0,
            avx2: has_avx2(),
        }
    }

    /// Resamples a chunk; output length follows the ratio exactly over time.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(input.len() * self.up / self.down + 2);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            #[allow(unsafe_code)]
            // SAFETY: `avx2` is true only where the CPU reported AVX2 (`Resampler::new`).
            unsafe {
                self.process_avx2(input, &mut out);
            }
            return out;
        }
        self.process_into(input, &mut out);
        out
    }

    /// [`Resampler::process_into`] compiled for AVX2: the eight lanes of the inner
    /// loops become one 256-bit register instead of two 128-bit ones. Multiplies and
    /// adds stay separate (no FMA), so the output is the same bit for bit.
    ///
    /// # Safety
    /// Only where the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2")]
    unsafe fn process_avx2(&mut self, input: &[i16], out: &mut Vec<i16>) {
        self.process_into(input, out);
    }

    #[inline(always)]
    fn process_into(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let taps = self.taps;
        for &s in input {
            let x = f32::from(s);
            self.history[self.next] = x;
            self.history[self.next + taps] = x;
            self.next += 1;
            if self.next == taps {
                self.next = 0;
            }
            let window = &self.history[self.next..self.next + taps];
            if !self.by_tap.is_empty() {
                out.extend_from_slice(&all_phases(window, &self.by_tap)[..self.up]);
                continue;
            }
            // Outputs whose upsampled position falls within this input sample.
            while self.phase < self.up {
                let coeffs = &self.phases[self.phase * taps..(self.phase + 1) * taps];
                out.push(to_i16(dot(coeffs, window)));
                self.phase += self.down;
            }
            self.phase -= self.up;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as i16)
            .collect()
    }

    /// Goertzel power at `freq`.
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

    #[test]
    fn upsampling_keeps_the_tone_and_the_count() {
        for to in [16_000, 24_000, 48_000] {
            let mut r = Resampler::new(8000, to, 16);
            let input = tone(1000.0, 8000.0, 8000);
            let mut out = Vec::new();
            for chunk in input.chunks(160) {
                out.extend(r.process(chunk));
            }
            assert_eq!(
                out.len(),
                8000 * (to as usize / 8000),
                "every input sample counted"
            );
            let settled = &out[out.len() / 2..];
            let at_tone = power(settled, 1000.0, f64::from(to));
            let image = power(settled, 7000.0, f64::from(to));
            assert!(
                at_tone > 1000.0 * image,
                "{to}: image suppressed ({at_tone:e} vs {image:e})"
            );
            let peak = settled
                .iter()
                .map(|s| i32::from(*s).abs())
                .max()
                .unwrap_or(0);
            assert!((7000..=9000).contains(&peak), "{to}: level kept ({peak})");
        }
    }

    #[test]
    fn all_phases_at_once_match_phase_by_phase() {
        for to in [16_000, 24_000, 48_000] {
            let mut lanes = Resampler::new(8000, to, 16);
            let mut phases = lanes.clone();
            phases.by_tap.clear();
            let input = tone(1234.0, 8000.0, 2000);
            for chunk in input.chunks(160) {
                let (a, b) = (lanes.process(chunk), phases.process(chunk));
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max();
                assert_eq!(a.len(), b.len());
                assert!(worst <= Some(1), "{to}: rounding only ({worst:?})");
            }
        }
    }

    #[test]
    fn the_avx2_build_gives_the_same_samples() {
        for (from, to) in [(8000, 16_000), (8000, 48_000), (48_000, 8000)] {
            let mut fast = Resampler::new(from, to, 16);
            let mut portable = fast.clone();
            portable.avx2 = false;
            let input = tone(1234.0, f64::from(from), from as usize);
            for chunk in input.chunks(from as usize / 50) {
                assert_eq!(fast.process(chunk), portable.process(chunk), "{from}->{to}");
            }
        }
    }

    #[test]
    fn downsampling_filters_what_8k_cannot_hold() {
        let mut r = Resampler::new(48_000, 8000, 16);
        let low = tone(1000.0, 48_000.0, 48_000);
        let high = tone(6000.0, 48_000.0, 48_000);
        let mixed: Vec<i16> = low.iter().zip(&high).map(|(a, b)| a / 2 + b / 2).collect();
        let out = r.process(&mixed);
        assert_eq!(out.len(), 8000);
        let settled = &out[4000..];
        // 6 kHz would alias to 2 kHz at 8 kHz: it must be gone.
        assert!(power(settled, 1000.0, 8000.0) > 100.0 * power(settled, 2000.0, 8000.0));
    }
}
