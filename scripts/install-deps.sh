#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, and nothing else:
# --no-install-recommends keeps libnss-mymachines (which rewrites
# /etc/nsswitch.conf) and other extras off the machine.
set -euo pipefail
# apt_get: apt-get that waits for apt's locks (unattended-upgrades on a fresh machine).
# shellcheck source-path=SCRIPTDIR source=sandbox/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/sandbox/lib/apt.sh"

packages=(
  # build
  cmake ninja-build g++ pkg-config
  libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev libnl-3-dev libnl-route-3-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev
  # the real programs the tests and the sandbox run
  dbus-daemon systemd systemd-container polkitd busybox-static iproute2 util-linux
  libglib2.0-bin libxml2-utils
  # test drivers: the sandbox tiers' assertions (Gio's typed D-Bus client), the chaos
  # invariants and a UDP echo server are Python
  python3 python3-gi gir1.2-glib-2.0
  # the man page's test (groff -man -ww)
  groff-base
  # real Nix for the builds the sandbox tiers run (Debian's nix-bin, offline)
  nix-bin
  # the Cockpit page and its browser tier (tests/browser: playwright-core from npm);
  # cockpit-system is Cockpit's shell, whose Tools menu leads to the page
  cockpit-ws cockpit-bridge cockpit-system chromium curl
)
# Node.js and npm for the browser tier: Debian's, unless a node is there already.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "==> installing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root to install packages" >&2
  exit 1
fi
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}"
