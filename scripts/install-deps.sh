#!/usr/bin/env bash
# Installs the Debian packages a group of make targets needs, only those missing.
#   scripts/install-deps.sh build   compiler, cmake (pingora's zlib-ng), pkg-config
#   scripts/install-deps.sh test    build + promtool, pebble, faketime, sox, systemd-analyze, python3-venv,
#                                   chromium (the console's browser tests; Node.js and npm too if missing)
#   scripts/install-deps.sh bench   build + nginx and wrk for `make bench-edge`
# Uses sudo when not root. Rust itself is expected to be installed (rustup).
set -euo pipefail

group=${1:-build}
pkgs=(build-essential cmake pkg-config)
case "$group" in
  build) ;;
  test)
    pkgs+=(faketime pebble prometheus python3-venv sox systemd chromium)
    command -v node >/dev/null || pkgs+=(nodejs)
    command -v npm >/dev/null || pkgs+=(npm)
    ;;
  bench) pkgs+=(nginx-light wrk) ;;
  *) echo "install-deps: unknown group '$group' (build, test, bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages like prometheus and nginx would start system services (:9090, :80); we only
# want their binaries, so service start-up is refused during the install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust with rustup first" >&2; exit 1; }
