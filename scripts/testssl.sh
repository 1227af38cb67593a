#!/usr/bin/env bash
# testssl.sh (Debian package `testssl.sh`) against the appliance's TLS listener on
# loopback, with a proper chain: a throw-away CA and a leaf for `localhost`, as a
# private CA would issue. Prints every finding at LOW or above (JSON in $OUT).
#   scripts/testssl.sh target/release/agent5
set -euo pipefail
bin=${1:?usage: scripts/testssl.sh PATH/TO/agent5}
command -v testssl >/dev/null || { echo "testssl.sh is not installed (apt install testssl.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=agent5 test CA" \
  -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout leaf.key -out leaf.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' > ext
openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 90 -extfile ext -out leaf.crt 2>/dev/null
cat leaf.crt ca.crt > chain.crt
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > agent5.toml <<TOML
[server]
listen = []
[tls]
listen = ["127.0.0.1:$port"]
[[tls.certificates]]
cert = "$work/chain.crt"
key = "$work/leaf.key"
[metrics]
listen = ""
TOML
"$bin" serve --config agent5.toml --data-dir "$work/data" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
OUT=${OUT:-/tmp/agent5-testssl.json}
rm -f "$OUT"
testssl --quiet --color 0 --warnings off --add-ca ca.crt --jsonfile "$OUT" --severity LOW \
  "https://localhost:$port" >/dev/null 2>&1 || true
python3 - "$OUT" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    if r.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        print(f'{r["severity"]:8} {r["id"]}: {r["finding"]}')
PY
