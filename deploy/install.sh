#!/usr/bin/env bash
# Install Knot Coach as an appliance on Raspberry Pi OS (Bookworm, 64-bit):
#   system packages, a system user "knotcoach" in the gpio group, the project in
#   its own virtual environment under /opt/knotcoach (PEP 668), data in
#   /var/lib/knotcoach, two systemd units started at boot, the avahi
#   announcement, then `knotcoach doctor`. Safe to run again (after a `git pull`,
#   to update): what is already in place is left as it is.
#
#   sudo deploy/install.sh [--hostname knotcoach] [--no-doctor]
#   deploy/install.sh --root DIR [--dry-run]   # into a scratch root: files only
#   deploy/install.sh --dry-run                # say what would be done, change nothing
#
# --root DIR puts every file under DIR (DIR/etc/systemd/system/..., DIR/opt/...)
# and changes nothing else: package installs, users, pip and systemctl become
# "would run:" lines. Exit status: 0 installed (doctor's findings are printed,
# not fatal), 1 a step failed, 2 a refusal (bad option, not root, unsupported OS).
set -euo pipefail

PREFIX=/opt/knotcoach
VENV=$PREFIX/.venv
SRC_COPY=$PREFIX/src
STATE_DIR=/var/lib/knotcoach
CONF_DIR=/etc/knotcoach
UNIT_DIR=/etc/systemd/system
AVAHI_DIR=/etc/avahi/services
WRAPPER=/usr/local/bin/knotcoach
SERVICE_USER=knotcoach
UNITS=(knotcoach-device.service knotcoach-web.service)
APT_PACKAGES=(python3-venv python3-dev python3-pip build-essential avahi-daemon libnss-mdns gpiod)
# What of the checkout the appliance needs (pip builds from this copy, not from the checkout).
PROJECT_FILES=(pyproject.toml README.md hardware.md firmware calibration server deploy)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(dirname "$HERE")

ROOT=""
DRY_RUN=0
NEW_HOSTNAME=""
RUN_DOCTOR=1

refuse() { echo "install.sh: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || refuse "--root needs a folder (see --help)"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --hostname) [ $# -ge 2 ] || refuse "--hostname needs a name (see --help)"; NEW_HOSTNAME=$2; shift 2 ;;
    --hostname=*) NEW_HOSTNAME=${1#--hostname=}; shift ;;
    --no-doctor) RUN_DOCTOR=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) refuse "unknown option '$1' (see --help)" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || refuse "--root $ROOT: no such folder (create it first)"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != / ] || refuse "--root / is the real system: run without --root, as root"
fi
if [ -n "$NEW_HOSTNAME" ] && ! [[ "$NEW_HOSTNAME" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; then
  refuse "--hostname '$NEW_HOSTNAME': use lower-case letters, digits and '-', e.g. knotcoach"
fi
if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  refuse "run as root (sudo $0), or try it first with --dry-run or --root DIR"
fi
if ! [ -f "$CHECKOUT/pyproject.toml" ] || ! [ -f "$HERE/systemd/knotcoach-device.service" ]; then
  refuse "run this script from a Knot Coach checkout (deploy/install.sh)"
fi

# --- the system: Raspberry Pi OS / Debian Bookworm (or newer) --------------------------
os_release=/etc/os-release
[ -n "$ROOT" ] && [ -f "$ROOT/etc/os-release" ] && os_release=$ROOT/etc/os-release
[ -r "$os_release" ] || refuse "cannot read $os_release: unsupported system (Knot Coach installs on Raspberry Pi OS Bookworm, 64-bit)"
# shellcheck source=/dev/null
os_line=$(. "$os_release"; echo "${ID:-}|${ID_LIKE:-}|${VERSION_CODENAME:-}|${PRETTY_NAME:-unknown}")
IFS='|' read -r os_id os_like os_codename os_name <<<"$os_line"
case " $os_id $os_like " in
  *" debian "*|*" raspbian "*) ;;
  *) refuse "unsupported system: $os_name (Knot Coach installs on Raspberry Pi OS Bookworm, 64-bit)" ;;
esac
case "$os_codename" in
  bookworm|trixie) ;;
  *) refuse "unsupported release: $os_name (Knot Coach installs on Raspberry Pi OS Bookworm, 64-bit)" ;;
esac
if [ -z "$ROOT" ]; then
  arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case "$arch" in
    arm64|aarch64) ;;
    *) say "note: this system is $arch, not 64-bit Raspberry Pi OS; installing anyway" ;;
  esac
  grep -qa 'Raspberry Pi' /proc/device-tree/model 2>/dev/null \
    || say "note: no Raspberry Pi found: the device process will not find HX711 boards here"
fi

# --- how each kind of step is carried out -------------------------------------------------
real() { [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ]; }
writes_files() { [ "$DRY_RUN" = 0 ]; }
path() { printf '%s%s' "$ROOT" "$1"; }

# A command that changes the system outside the files this script places.
system() {
  if real; then
    say "running: $*"
    "$@"
  else
    echo "would run: $*"
  fi
}

# Put the file SRC at DEST (a target-system path) with MODE, unless it is already there.
place() {
  local src=$1 dest=$2 mode=$3 target
  target=$(path "$dest")
  if [ -f "$target" ] && cmp -s "$src" "$target"; then
    echo "unchanged: $dest"
  elif ! writes_files; then
    echo "would install: $dest"
  else
    install -D -m "$mode" "$src" "$target"
    echo "installed: $dest"
  fi
}

# Like place, for text given on standard input.
place_text() {
  local dest=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  place "$tmp" "$dest" "$mode"
  rm -f "$tmp"
}

# Write the text on standard input to DEST only if DEST does not exist (it is the user's to edit).
place_once() {
  local dest=$1 mode=$2 tmp
  if [ -e "$(path "$dest")" ]; then
    cat >/dev/null
    echo "kept as it is: $dest"
    return
  fi
  tmp=$(mktemp)
  cat >"$tmp"
  place "$tmp" "$dest" "$mode"
  rm -f "$tmp"
}

make_dir() {
  local dest=$1 mode=$2
  if [ -d "$(path "$dest")" ]; then
    return
  elif writes_files; then
    install -d -m "$mode" "$(path "$dest")"
    echo "created: $dest"
  else
    echo "would create: $dest"
  fi
}

# --- 1. packages --------------------------------------------------------------------------
step_packages() {
  system apt-get update
  system env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

# --- 2. the service user, in the gpio group ----------------------------------------------------
step_user() {
  if real && getent passwd "$SERVICE_USER" >/dev/null; then
    echo "unchanged: user $SERVICE_USER"
  else
    system useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  if real && ! getent group gpio >/dev/null; then
    # Raspberry Pi OS has it, and a udev rule giving it /dev/gpiochip*; elsewhere there is no GPIO to share.
    system groupadd --system gpio
  fi
  if real && id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx gpio; then
    echo "unchanged: $SERVICE_USER is in the gpio group"
  else
    system usermod -aG gpio "$SERVICE_USER"
  fi
}

# --- 3. the project and its virtual environment ------------------------------------------------
step_project() {
  make_dir "$PREFIX" 0755
  local staged
  staged=$(mktemp -d)
  (cd "$CHECKOUT" && tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
     --exclude=build "${PROJECT_FILES[@]}") | tar -x --no-same-owner -C "$staged"
  if [ -d "$(path "$SRC_COPY")" ] && diff -r -q -x __pycache__ -x '*.egg-info' -x build \
       "$staged" "$(path "$SRC_COPY")" >/dev/null 2>&1; then
    echo "unchanged: $SRC_COPY"
    rm -rf "$staged"
  elif ! writes_files; then
    echo "would copy the project to: $SRC_COPY"
    rm -rf "$staged"
  else
    rm -rf "$(path "$SRC_COPY")"
    mv "$staged" "$(path "$SRC_COPY")"
    chmod 0755 "$(path "$SRC_COPY")"
    echo "copied the project to: $SRC_COPY"
  fi
  if [ -x "$(path "$VENV/bin/python")" ]; then
    echo "unchanged: $VENV"
  else
    system python3 -m venv "$VENV"
  fi
  # The pi extra: lgpio for gpiozero (buzzer, LED, buttons), gpiod for Blinka (the HX711 pins).
  system "$VENV/bin/python" -m pip install --quiet --upgrade "${SRC_COPY}[pi]" --root-user-action=ignore
}

# --- 4. configuration, data, the command ---------------------------------------------------------
step_config() {
  make_dir "$CONF_DIR" 0755
  place_once "$CONF_DIR/device.env" 0644 <<'EOF'
# Options for the Knot Coach device process (knotcoach-device.service).
# --source hx711: the HX711 boards only (no simulator fallback). Other pins,
# as DOUT:SCK per cell in cell order: --pins 5:6,17:27,22:23,24:25
# After a change: sudo systemctl restart knotcoach-device
KNOTCOACH_DEVICE_OPTS=--source hx711
EOF
  place_once "$CONF_DIR/web.env" 0644 <<'EOF'
# Options for the Knot Coach tablet app (knotcoach-web.service), e.g. --port 8081
# (then change the port in /etc/avahi/services/knotcoach.service as well).
# After a change: sudo systemctl restart knotcoach-web
KNOTCOACH_WEB_OPTS=
EOF
  make_dir "$STATE_DIR" 0750
  system chown "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
  # `knotcoach` on the PATH, working on the appliance's data unless told otherwise.
  place_text "$WRAPPER" 0755 <<EOF
#!/bin/sh
# Knot Coach as installed by deploy/install.sh: the appliance's data directory
# ($STATE_DIR) unless --data-dir or \$STATE_DIRECTORY names another.
STATE_DIRECTORY="\${STATE_DIRECTORY:-$STATE_DIR}"
export STATE_DIRECTORY
# Run as root (sudo knotcoach ...), it works as the service user, so every file it
# writes in the data directory stays readable and writable by the units.
if [ "\$(id -u)" = 0 ]; then
  exec runuser -u $SERVICE_USER -- env STATE_DIRECTORY="\$STATE_DIRECTORY" $VENV/bin/knotcoach "\$@"
fi
exec $VENV/bin/knotcoach "\$@"
EOF
}

# --- 5. the units and the announcement ----------------------------------------------------------
step_units() {
  local unit
  for unit in "${UNITS[@]}"; do
    place "$HERE/systemd/$unit" "$UNIT_DIR/$unit" 0644
  done
  place "$HERE/avahi/knotcoach.service" "$AVAHI_DIR/knotcoach.service" 0644
  system systemctl daemon-reload
  system systemctl enable "${UNITS[@]}"
  system systemctl enable --now avahi-daemon.service
  # Restart, not start: after an update the new code must run.
  system systemctl restart "${UNITS[@]}"
}

step_hostname() {
  local current
  current=$(hostname 2>/dev/null || echo unknown)
  if [ -n "$NEW_HOSTNAME" ]; then
    system hostnamectl set-hostname "$NEW_HOSTNAME"
    system sed -i "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$NEW_HOSTNAME/" /etc/hosts
    say "tablets find this Pi at http://$NEW_HOSTNAME.local:8080/"
  elif [ "$current" = knotcoach ]; then
    say "tablets find this Pi at http://knotcoach.local:8080/"
  else
    say "tablets find this Pi at http://$current.local:8080/; for knotcoach.local run this again with --hostname knotcoach"
  fi
}

step_doctor() {
  if [ "$RUN_DOCTOR" = 0 ]; then
    return
  fi
  if ! real; then
    echo "would run: $VENV/bin/knotcoach doctor --data-dir $STATE_DIR --wait-s 30"
    return
  fi
  say "checking the installation (knotcoach doctor)"
  # From /tmp: lgpio writes small pipe files into the working directory.
  if (cd /tmp && LG_WD=/tmp "$VENV/bin/knotcoach" doctor --data-dir "$STATE_DIR" --wait-s 30); then
    say "done. The pairing link for the tablet: journalctl -u knotcoach-web -n 40"
  else
    say "installed, but knotcoach doctor found something to fix (above; hardware.md section 9 lists the fixes)"
  fi
}

step_packages
step_user
step_project
step_config
step_units
step_hostname
step_doctor
