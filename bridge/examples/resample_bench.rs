//! `cargo run --release -p agent5-bridge --example resample_bench`: the resampler's cost
//! per 20 ms frame for the rates listen-in, takeover and Agent Studio use.

use std::time::Instant;

use agent5_bridge::resample::Resampler;

fn main() {
    for (from, to) in [
        (8000, 48_000),
        (8000, 24_000),
        (8000, 16_000),
        (48_000, 8000),
    ] {
        let frame = from as usize / 50;
        let input: Vec<i16> = (0..from as usize)
            .map(|i| (8000.0 * (i as f64 * 0.7).sin()) as i16)
            .collect();
        let mut r = Resampler::new(from, to, 16);
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            for chunk in input.chunks(frame) {
                std::hint::black_box(r.process(std::hint::black_box(chunk)));
            }
        }
        let frames = rounds * input.len() / frame;
        println!(
            "{from} Hz -> {to} Hz: {:.2} µs per 20 ms frame ({frames} frames)",
            start.elapsed().as_secs_f64() * 1e6 / frames as f64
        );
    }
}
