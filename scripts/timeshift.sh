#!/usr/bin/env bash
# Runs every test binary of the workspace with the process clock moved years ahead and
# behind (libfaketime, Debian package `faketime`), to prove no test depends on the date
# it runs on. Run it through scripts/with-secantus.sh (make test-timeshift does): the
# database keeps the real clock, as a database on another host would.
#   scripts/timeshift.sh            shifts +4y and -3y
#   scripts/timeshift.sh +30d -2y   the shifts you name (libfaketime's relative form)
#
# Left out: tests/acme.rs. Pebble, the ACME test server, is a Go program, and Go reads
# the clock without libc, so libfaketime cannot move its clock: the certificates it
# issues would carry the real dates while the appliance lives years away. The renewal
# windows themselves are unit tests in proxy/src/acme.rs, which do run shifted.
set -euo pipefail
cd "$(dirname "$0")/.."

shifts=("$@")
[ ${#shifts[@]} -gt 0 ] || shifts=(+4y -3y)

lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketimeMT\.so\.1$' || true)
[ -n "$lib" ] && [ -f "$lib" ] || { echo "timeshift: libfaketime not installed (apt install faketime)" >&2; exit 1; }

# Build once with the real clock (cargo judges freshness by mtimes), then run the
# binaries directly, each from its package's directory as `cargo test` does.
plan=$(cargo test --locked --workspace --all-targets --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        name = m["target"]["name"]
        if name == "acme":
            continue
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"] + "\t" + name)
')
[ -n "$plan" ] || { echo "timeshift: no test binaries found" >&2; exit 1; }

failed=()
for shift in "${shifts[@]}"; do
  now=$(FAKETIME="$shift" LD_PRELOAD="$lib" date -u +%FT%TZ)
  echo "== timeshift $shift: the tests believe it is $now"
  while IFS=$'\t' read -r dir exe name; do
    if ! (cd "$dir" && FAKETIME="$shift" FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD="$lib" \
      "$exe" --quiet 2>&1 | sed "s/^/[$shift $name] /"; exit "${PIPESTATUS[0]}"); then
      failed+=("$shift $name")
    fi
  done <<<"$plan"
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'timeshift: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "timeshift: every test passed at ${shifts[*]}"
