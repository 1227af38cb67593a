//! The fuzz corpora as regression tests: every committed input of every target in
//! `fuzz/corpus/` goes through the same harness the fuzzer runs (`make fuzz`), without
//! instrumentation, so an input that once found a bug keeps proving it is fixed.

use std::path::Path;

use agent5_e2e::fuzz_harness as h;

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 6] = [
    ("media_frames", h::media_frames),
    ("realtime_events", h::realtime_events),
    ("browser_messages", h::browser_messages),
    ("webhook_envelope", h::webhook_envelope),
    ("csv_import", h::csv_import),
    ("config_file", h::config_file),
];

#[test]
fn every_corpus_input_passes_its_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, run) in TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name} has no corpus");
        for input in inputs {
            let data = std::fs::read(&input).expect("read");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", input.display());
        }
    }
}
