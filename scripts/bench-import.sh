#!/usr/bin/env bash
# CSV import benchmark: generated files of each size, imported into a fresh embedded
# store through the CLI (`agent5 import prospects`) and through the HTTP endpoint, with
# rows/s and peak RSS (CLI: /usr/bin/time; HTTP: the server's VmHWM). Loopback only.
#   scripts/bench-import.sh path/to/agent5 [rows ...]      (default 100000 1000000)
set -euo pipefail
BIN=${1:?usage: bench-import.sh path/to/agent5 [rows ...]}
shift
SIZES=("${@:-100000 1000000}")
[ $# -eq 0 ] && SIZES=(100000 1000000)
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=""
TOKEN=bench-import-token-aaaaaaaa
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//')"
printf '%-9s %-5s %10s %10s %12s\n' rows path seconds rows/s peak_rss_MB
for rows in "${SIZES[@]}"; do
  csv="$WORK/p$rows.csv"
  python3 "$(dirname "$0")/gen-prospects-csv.py" "$rows" "$csv"

  # CLI
  rm -rf "$WORK/cli"; mkdir -p "$WORK/cli"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" import prospects "$csv" --data-dir "$WORK/cli" --report "$WORK/cli.json" 2>/dev/null
  end=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$end-$start:.1f}')")
  printf '%-9s %-5s %10s %10.0f %12.0f\n' "$rows" cli "$secs" "$(python3 -c "print($rows/($end-$start))")" "$(( $(cat "$WORK/rss") / 1024 ))"

  # HTTP (upload limit raised to the file's size)
  rm -rf "$WORK/http"; mkdir -p "$WORK/http"
  port=$(free_port)
  size=$(stat -c %s "$csv")
  cat > "$WORK/http.toml" <<TOML
[server]
listen = ["127.0.0.1:$port"]
[metrics]
listen = ""
[auth]
tokens = ["$TOKEN"]
[limits]
upload_body_bytes = $((size + 1048576))
upload_max_rows = $((rows + 1))
[log]
access_log = false
TOML
  "$BIN" serve --config "$WORK/http.toml" --data-dir "$WORK/http" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.05; done
  start=$(date +%s.%N)
  curl -fsS -H "Authorization: Bearer $TOKEN" -F "csv=@$csv;type=text/csv" "http://127.0.0.1:$port/api/prospects/upload" -o "$WORK/http.json"
  end=$(date +%s.%N)
  rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER/status")
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  secs=$(python3 -c "print(f'{$end-$start:.1f}')")
  printf '%-9s %-5s %10s %10.0f %12s\n' "$rows" http "$secs" "$(python3 -c "print($rows/($end-$start))")" "$rss"
  python3 -c "import json,sys; r=json.load(open('$WORK/http.json')); assert r['imported']==$rows and r['failed']==0, r"
done
