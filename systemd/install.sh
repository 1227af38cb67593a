#!/usr/bin/env bash
# Installs Agent5 on a systemd box, from a checkout or an unpacked release tarball.
#   sudo systemd/install.sh path/to/agent5            # installs, enables, starts
#   DESTDIR=/tmp/root systemd/install.sh path/to/agent5  # files only, under DESTDIR
# Idempotent: an existing /etc/agent5/agent5.toml and agent5.env are kept. With DESTDIR
# set, nothing outside DESTDIR is touched: no useradd, no systemctl.
set -euo pipefail
BIN=${1:?usage: install.sh path/to/agent5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
D=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}

install -d -m 0755 "$D$PREFIX/bin" "$D/etc/systemd/system" "$D/etc/tmpfiles.d"
install -m 0755 "$BIN" "$D$PREFIX/bin/agent5"
install -d -m 0750 "$D/etc/agent5"
if [ ! -e "$D/etc/agent5/agent5.toml" ]; then
  # The service's data directory, so that every command given this file (doctor,
  # upgrade, import) finds the same database, pid file and upgrade socket.
  sed 's|^data_dir = "./data"$|data_dir = "/var/lib/agent5"|' "$ROOT/conf/agent5.toml" > "$D/etc/agent5/agent5.toml.new"
  grep -q '^data_dir = "/var/lib/agent5"$' "$D/etc/agent5/agent5.toml.new"
  chmod 0640 "$D/etc/agent5/agent5.toml.new"
  mv "$D/etc/agent5/agent5.toml.new" "$D/etc/agent5/agent5.toml"
fi
if [ ! -e "$D/etc/agent5/agent5.env" ]; then
  umask 077
  cat > "$D/etc/agent5/agent5.env" <<'ENV'
# Secrets for agent5 (mode 0600). One VAR=value per line.
AUTH_TOKEN=
TELNYX_API_KEY=
TELNYX_CONNECTION_ID=
TELNYX_PHONE_NUMBER=
TELNYX_PUBLIC_KEY_PEM=
TELNYX_STREAM_URL=
OPENAI_API_KEY=
# MONGO_URI=mongodb://user:password@host/agent5
ENV
  chmod 0600 "$D/etc/agent5/agent5.env"
fi
sed "s#/usr/local/bin/agent5#$PREFIX/bin/agent5#g" "$HERE/agent5.service" > "$D/etc/systemd/system/agent5.service"
chmod 0644 "$D/etc/systemd/system/agent5.service"
install -m 0644 "$HERE/agent5.tmpfiles" "$D/etc/tmpfiles.d/agent5.conf"

if [ -n "$D" ]; then
  echo "installed under $D (no user, no systemctl)"
  exit 0
fi
id agent5 >/dev/null 2>&1 || useradd --system --home /var/lib/agent5 --shell /usr/sbin/nologin agent5
chown root:agent5 /etc/agent5 /etc/agent5/agent5.toml
chown agent5:agent5 /etc/agent5/agent5.env
systemd-tmpfiles --create /etc/tmpfiles.d/agent5.conf
"$PREFIX/bin/agent5" check-config --config /etc/agent5/agent5.toml
systemctl daemon-reload
systemctl enable --now agent5
echo "agent5 installed and started: systemctl status agent5; agent5 doctor --config /etc/agent5/agent5.toml"
