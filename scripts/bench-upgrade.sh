#!/usr/bin/env bash
# Zero-downtime upgrade under load: wrk keeps /healthz busy on keep-alive connections
# while `agent5 upgrade` hands the listener to a successor in the middle of the run.
# Prints wrk's totals with its socket errors and non-2xx count, and the hand-over time.
#   scripts/bench-upgrade.sh path/to/agent5 [seconds] [connections]
# Loopback only.
set -euo pipefail

BIN=${1:?usage: bench-upgrade.sh path/to/agent5 [seconds] [connections]}
SECS=${2:-12}
CONNS=${3:-64}
WORK=$(mktemp -d)
trap 'pkill -f "$WORK/agent5.toml" 2>/dev/null || true; rm -rf "$WORK"' EXIT

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$WORK/agent5.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
threads = 2
grace_period_secs = 30
[metrics]
listen = ""
[log]
access_log = false
TOML
"$BIN" serve --config "$WORK/agent5.toml" --data-dir "$WORK/data" > "$WORK/agent5.log" 2>&1 &
for _ in $(seq 1 200); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break; sleep 0.05; done
OLD=$(cat "$WORK/data/agent5.pid")

wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/healthz" > "$WORK/wrk.txt" &
WRK=$!
sleep $((SECS / 3))
START=$(date +%s.%N)
"$BIN" upgrade --data-dir "$WORK/data" --timeout 60
END=$(date +%s.%N)
wait $WRK
NEW=$(cat "$WORK/data/agent5.pid")

echo "hand-over: pid $OLD -> $NEW in $(python3 -c "print(f'{$END-$START:.2f}')") s (signal to successor ready)"
grep -E "Requests/sec|requests in|Socket errors|Non-2xx|50%|99%" "$WORK/wrk.txt"
grep -q "Socket errors\|Non-2xx" "$WORK/wrk.txt" || echo "no socket errors, no non-2xx responses"
