#!/usr/bin/env bash
# Edge throughput: nginx `return 200` vs agent5 /healthz vs an authenticated
# agent5 /api/status (with the environment token, and with a person's `a5_` API
# token when the binary has accounts), same wrk settings, alternating rounds, access
# logs on for both.
#   scripts/bench-edge.sh path/to/agent5 [seconds] [connections] [rounds]
# BASELINE=path/to/older/agent5 adds that build's rows (`-base`) to the same rounds,
# for a before/after comparison that alternates instead of running minutes apart.
# Prints requests/s, p50/p99 latency and the ratio to nginx. Loopback only.
set -euo pipefail

BIN=${1:?usage: bench-edge.sh path/to/agent5 [seconds] [connections] [rounds]}
SECS=${2:-10}
CONNS=${3:-64}
ROUNDS=${4:-3}
THREADS=2
TOKEN=bench-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=$(mktemp -d)
BASE_PID=
trap 'kill $NGINX_PID $AGENT5_PID $BASE_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }

NGINX_PORT=$(free_port)
NGINX_HDR_PORT=$(free_port)
AGENT5_PORT=$(free_port)
# The same security headers agent5 sends (Helmet's set), for a like-for-like row.
HDRS=$(cat <<'H'
    add_header Content-Security-Policy "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;media-src 'self' blob: data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests" always;
    add_header Cross-Origin-Opener-Policy same-origin always;
    add_header Cross-Origin-Resource-Policy same-origin always;
    add_header Origin-Agent-Cluster "?1" always;
    add_header Referrer-Policy no-referrer always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-DNS-Prefetch-Control off always;
    add_header X-Download-Options noopen always;
    add_header X-Frame-Options SAMEORIGIN always;
    add_header X-Permitted-Cross-Domain-Policies none always;
    add_header X-XSS-Protection 0 always;
    add_header X-Request-Id $request_id always;
H
)
mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<NGINX
worker_processes $THREADS;
error_log $WORK/nginx/logs/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log $WORK/nginx/logs/access.log;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 'ok'; }
  }
  server {
    listen 127.0.0.1:$NGINX_HDR_PORT;
$HDRS
    location / { return 200 'ok'; }
  }
}
NGINX
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!

cat > "$WORK/agent5.toml" <<TOML
[server]
listen = ["127.0.0.1:$AGENT5_PORT"]
threads = $THREADS
[metrics]
listen = ""
[auth]
tokens = ["$TOKEN"]
[rate_limit]
# The limiter still runs on every API request; the budget is just out of reach.
api = { per_minute = 1000000000, burst = 1000000000 }
TOML
AUTH_TOKEN= "$BIN" serve --config "$WORK/agent5.toml" --data-dir "$WORK/data" > "$WORK/agent5.log" 2>&1 &
AGENT5_PID=$!
if [ -n "${BASELINE:-}" ]; then
  BASE_PORT=$(free_port)
  sed "s/127.0.0.1:$AGENT5_PORT/127.0.0.1:$BASE_PORT/" "$WORK/agent5.toml" > "$WORK/base.toml"
  AUTH_TOKEN= "$BASELINE" serve --config "$WORK/base.toml" --data-dir "$WORK/base-data" > "$WORK/base.log" 2>&1 &
  BASE_PID=$!
  wait_up "http://127.0.0.1:$BASE_PORT/healthz"
fi
wait_up "http://127.0.0.1:$NGINX_PORT/"
wait_up "http://127.0.0.1:$NGINX_HDR_PORT/"
wait_up "http://127.0.0.1:$AGENT5_PORT/healthz"

# A person's API token, when this build has accounts (an older one answers 404/405).
PERSON_TOKEN=
BASE="http://127.0.0.1:$AGENT5_PORT"
if curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
     -d '{"email":"bench@example.com","role":"admin","password":"bench passphrase 1"}' "$BASE/api/users" 2>/dev/null; then
  curl -fsS -c "$WORK/jar" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench passphrase 1"}' "$BASE/api/auth/login" >/dev/null
  PERSON_TOKEN=$(curl -fsS -b "$WORK/jar" -H "Origin: $BASE" -H 'content-type: application/json' \
    -d '{"name":"bench"}' "$BASE/api/tokens" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
fi

run() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t$THREADS -c$CONNS -d${SECS}s --latency -H "$3" "$2")
  else
    out=$(wrk -t$THREADS -c$CONNS -d${SECS}s --latency "$2")
  fi
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$1 $rps $p50 $p99 ${errors:-0}" >> "$WORK/results"
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS ..." >&2
  run nginx "http://127.0.0.1:$NGINX_PORT/"
  run nginx+hdrs "http://127.0.0.1:$NGINX_HDR_PORT/"
  run healthz "http://127.0.0.1:$AGENT5_PORT/healthz"
  run api "http://127.0.0.1:$AGENT5_PORT/api/status" "Authorization: Bearer $TOKEN"
  if [ -n "$BASE_PID" ]; then
    run healthz-base "http://127.0.0.1:$BASE_PORT/healthz"
    run api-base "http://127.0.0.1:$BASE_PORT/api/status" "Authorization: Bearer $TOKEN"
  fi
  if [ -n "$PERSON_TOKEN" ]; then
    run api-a5 "http://127.0.0.1:$AGENT5_PORT/api/status" "Authorization: Bearer $PERSON_TOKEN"
  fi
done

echo
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'); wrk -t$THREADS -c$CONNS -d${SECS}s x $ROUNDS rounds"
python3 - "$WORK/results" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, errs = line.split()
    rows.setdefault(name, []).append((float(rps), p50, p99, int(errs)))
def med(name): return statistics.median(r[0] for r in rows[name])
base = med("nginx")
print(f"{'target':<12} {'req/s (median)':>15} {'p50 (last)':>11} {'p99 (last)':>11} {'non-2xx':>8} {'vs nginx':>9}")
for name in ("nginx", "nginx+hdrs", "healthz-base", "healthz", "api-base", "api", "api-a5"):
    if name not in rows:
        continue
    last = rows[name][-1]
    print(f"{name:<12} {med(name):>15.0f} {last[1]:>11} {last[2]:>11} {sum(r[3] for r in rows[name]):>8} {med(name)/base:>8.2f}x")
PY
echo "agent5 access-log lines written: $(grep -c '"target":"access"' "$WORK/agent5.log")"
