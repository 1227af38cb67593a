#!/usr/bin/env bash
# Runs a command with a throw-away SecantusDB (a MongoDB-wire server) on a free
# loopback port, exporting AGENT5_TEST_MONGO_URI, AGENT5_REQUIRE_MONGO=1 and
# AGENT5_SECANTUS_BIN (tests that stop and restart a server use it). The server is
# stopped when the command ends. Installs SecantusDB into a venv on first use.
#   scripts/with-secantus.sh cargo test --workspace
set -euo pipefail

VENV=${AGENT5_SECANTUS_VENV:-$HOME/.cache/agent5-secantus-venv}
BIN="$VENV/bin/secantusd-py"

fail() { echo "with-secantus: $*" >&2; echo "with-secantus: the MongoDB backend must not go untested; fix the above and rerun" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
  echo "with-secantus: installing SecantusDB into $VENV"
  python3 -m venv "$VENV" || fail "cannot create a Python venv (apt install python3-venv)"
  "$VENV/bin/pip" install -q 'SecantusDB==0.7.0b3' \
    || "$VENV/bin/pip" install -q --pre 'SecantusDB>=0.7.0b3,<0.8' \
    || fail "pip could not install SecantusDB"
  [ -x "$BIN" ] || fail "SecantusDB installed but $BIN is missing"
fi

LOG=$(mktemp)
"$BIN" --host 127.0.0.1 --port 0 --storage-path :memory: >"$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

PORT=""
for _ in $(seq 1 300); do
  PORT=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$LOG" | head -1 | cut -d: -f2 || true)
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; fail "SecantusDB exited during start-up"; }
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$LOG" >&2; fail "SecantusDB did not report its port within 30 s"; }

export AGENT5_TEST_MONGO_URI="mongodb://127.0.0.1:$PORT/?directConnection=true"
export AGENT5_REQUIRE_MONGO=1
export AGENT5_SECANTUS_BIN="$BIN"
echo "with-secantus: SecantusDB on 127.0.0.1:$PORT (pid $PID)"
"$@"
