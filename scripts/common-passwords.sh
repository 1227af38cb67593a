#!/usr/bin/env bash
# Regenerates api/data/common-passwords.txt: the 20,000 most common passwords Django
# ships (django/contrib/auth/common-passwords.txt.gz, BSD-3-Clause; compiled by Royce
# Williams from leaked-password corpora), lower-cased, one per line, without the
# `$hex[...]` entries. The appliance refuses a new password found in it, also after
# stripping trailing digits and punctuation ("Password2024!" is "password").
#
# Usage: scripts/common-passwords.sh [DJANGO_VERSION]   (needs pip and network to PyPI)
set -euo pipefail
version="${1:-5.1.4}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "django==${version}" -d "$work"
wheel="$(ls "$work"/Django-*.whl)"
sha256sum "$wheel"
(cd "$work" && python3 -m zipfile -e "$wheel" extracted >/dev/null)
zcat "$work/extracted/django/contrib/auth/common-passwords.txt.gz" \
  | tr -d '\r' | tr '[:upper:]' '[:lower:]' | grep -v '^\$hex\[' | grep -v '^$' \
  | LC_ALL=C sort -u > "$here/api/data/common-passwords.txt"
wc -l "$here/api/data/common-passwords.txt"
