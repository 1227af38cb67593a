#!/usr/bin/env bash
# Concurrent simulated calls through the release appliance (loopback only): for each
# call count, agent5-load starts a fake Telnyx, an echo agent and agent5, streams
# real-time PCMU both ways with recording on, and prints latency, loss, CPU and RSS.
# With FLOOR=path/to/agent5-floor, each count runs a second time against that relay
# (the least a bridge can do per frame, marks included): what the machine allows.
#   scripts/bench-calls.sh path/to/agent5 path/to/agent5-load [seconds] [calls...]
set -euo pipefail
BIN=${1:?usage: bench-calls.sh agent5 agent5-load [seconds] [calls...]}
LOAD=${2:?usage: bench-calls.sh agent5 agent5-load [seconds] [calls...]}
SECS=${3:-15}
shift 2
[ "$#" -gt 0 ] && shift
COUNTS=("$@")
[ "${#COUNTS[@]}" -eq 0 ] && COUNTS=(50 100 200 300 500)
ulimit -n 65536 2>/dev/null || true
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load tool on the same machine"
for n in "${COUNTS[@]}"; do
  echo "agent5: $("$LOAD" "$BIN" "$n" "$SECS")"
  if [ -n "${FLOOR:-}" ]; then
    echo "floor:  $(AGENT5_LOAD_FLOOR=1 AGENT5_FLOOR_MARKS=1 "$LOAD" "$FLOOR" "$n" "$SECS")"
  fi
done
