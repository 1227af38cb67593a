#!/usr/bin/env bash
# Signed Telnyx webhooks accepted per second, end to end on the embedded SQLite store:
# the release agent5 on a loopback port with the published Telnyx test key configured,
# driven by agent5-webhook-bench (unique event ids, pre-signed bodies).
#   scripts/bench-webhooks.sh path/to/agent5 path/to/agent5-webhook-bench [requests] [concurrency...]
set -euo pipefail

BIN=${1:?usage: bench-webhooks.sh agent5 agent5-webhook-bench [requests] [concurrency...]}
BENCH=${2:?usage: bench-webhooks.sh agent5 agent5-webhook-bench [requests] [concurrency...]}
REQUESTS=${3:-20000}
shift 2
[ "$#" -gt 0 ] && shift
CONCURRENCY=("$@")
[ "${#CONCURRENCY[@]}" -eq 0 ] && CONCURRENCY=(16 64)
WORK=$(mktemp -d)
trap 'kill $AGENT5_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > "$WORK/agent5.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
data_dir = "$WORK/data"
[metrics]
listen = ""
[auth]
tokens = ["bench-token-aaaaaaaaaaaa"]
[rate_limit]
webhook = { per_minute = 100000000, burst = 1000000 }
[telnyx]
public_key_pem = "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs="
TOML
"$BIN" --config "$WORK/agent5.toml" > "$WORK/agent5.log" 2>&1 &
AGENT5_PID=$!
for _ in $(seq 1 200); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break; sleep 0.05; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for c in "${CONCURRENCY[@]}"; do
  "$BENCH" "127.0.0.1:$PORT" "$REQUESTS" "$c"
done
curl -fsS -H "Authorization: Bearer bench-token-aaaaaaaaaaaa" "http://127.0.0.1:$PORT/metrics" \
  | grep -E '^agent5_telnyx_webhooks_total|^agent5_telnyx_webhook_events_total\{type="call.dtmf.received"\}|^agent5_telnyx_webhook_processing_seconds_(sum|count)'
echo "agent5 peak RSS: $(grep VmHWM /proc/$AGENT5_PID/status | awk '{print $2/1024 " MB"}')"
