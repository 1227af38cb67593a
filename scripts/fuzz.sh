#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on the stable toolchain: builds fuzz/ with
# SanitizerCoverage (the flags cargo-fuzz passes; no nightly needed) in its own target
# directory, runs every target (or the ones named) for SECONDS each, then minimises
# each corpus back into fuzz/corpus/<target> (commit it). A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run.
#   scripts/fuzz.sh 600                    every target, 10 minutes each
#   scripts/fuzz.sh 60 media_frames        one target
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(media_frames realtime_events browser_messages webhook_envelope csv_import config_file)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agent5-target}/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
triple=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --manifest-path fuzz/Cargo.toml --bins --target "$triple"

failed=()
for t in "${targets[@]}"; do
  bin="$CARGO_TARGET_DIR/$triple/release/$t"
  corpus="fuzz/corpus/$t"
  work=$(mktemp -d)
  mkdir -p "fuzz/artifacts/$t"
  echo "== fuzz $t for ${secs}s (corpus: $(ls "$corpus" | wc -l) inputs)"
  if ! "$bin" "$work" "$corpus" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" 2>"$work.log"; then
    failed+=("$t")
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs|ERROR|panicked" "$work.log" | sed "s/^/[$t] /" || true
  # Keep a minimal corpus covering everything found.
  min=$(mktemp -d)
  "$bin" -merge=1 "$min" "$corpus" "$work" >/dev/null 2>&1 || true
  if [ -n "$(ls "$min")" ]; then
    rm -f "$corpus"/*
    cp "$min"/* "$corpus"/
  fi
  echo "[$t] corpus now $(ls "$corpus" | wc -l) inputs"
  rm -rf "$work" "$work.log" "$min"
done
rmdir fuzz/artifacts/* 2>/dev/null || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
