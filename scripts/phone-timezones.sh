#!/usr/bin/env bash
# Regenerates api/data/phone-timezones.txt: libphonenumber's number-prefix to time-zone
# map (resources/timezones/map_data.txt upstream, Apache-2.0, The Libphonenumber
# Authors), taken from the `phonenumbers` wheel on PyPI (the Python port, which ships
# the same generated data). One `prefix|Zone&Zone` line per prefix: the prefix is the
# country calling code followed by the start of the national number, as in E.164
# without the `+`; the dialer looks up the longest prefix of a number.
#
# Usage: scripts/phone-timezones.sh [PHONENUMBERS_VERSION]   (needs pip and network to PyPI)
set -euo pipefail
version="${1:-9.0.43}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "phonenumbers==${version}" -d "$work"
wheel="$(ls "$work"/phonenumbers-*.whl)"
sha256sum "$wheel"
(cd "$work" && python3 -m zipfile -e "$wheel" extracted >/dev/null)
out="$here/api/data/phone-timezones.txt"
PYTHONPATH="$work/extracted" python3 - "$version" > "$out" <<'PY'
import sys
from phonenumbers.tzdata import TIMEZONE_DATA
print("# libphonenumber's number-prefix to time-zone map, from the phonenumbers", sys.argv[1], "wheel")
print("# (PyPI). Copyright (C) 2011-2026 The Libphonenumber Authors. Licensed under the")
print("# Apache License, Version 2.0: api/data/phone-timezones.LICENSE.")
print("# Regenerate with scripts/phone-timezones.sh. Format: prefix|Zone&Zone")
for prefix in sorted(TIMEZONE_DATA, key=lambda p: (len(p), p)):
    zones = TIMEZONE_DATA[prefix]
    if isinstance(zones, str):
        zones = (zones,)
    print(prefix + "|" + "&".join(zones))
PY
wc -l "$out"
