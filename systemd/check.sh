#!/usr/bin/env bash
# Checks the unit as systemd reads it: `systemd-analyze verify` (with ExecStart pointed
# at a built binary, since /usr/local/bin/agent5 is not installed on a build box) and
# the hardening score of `systemd-analyze security --offline=yes`, which must stay at
# or below MAX_EXPOSURE (lower is better; 1.8 today).
#   systemd/check.sh path/to/agent5
set -euo pipefail
BIN=${1:?usage: systemd/check.sh path/to/agent5}
MAX_EXPOSURE=${MAX_EXPOSURE:-3.0}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed: unit not checked" >&2
  exit 0
fi
sed "s#/usr/local/bin/agent5#$(realpath "$BIN")#g" "$HERE/agent5.service" > "$WORK/agent5.service"
systemd-analyze verify "$WORK/agent5.service"
score=$(systemd-analyze security --offline=yes "$WORK/agent5.service" | sed -n 's/.*Overall exposure level for agent5.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $score (limit $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s != "" && s <= m) }'
