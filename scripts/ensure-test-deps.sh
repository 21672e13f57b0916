#!/usr/bin/env bash
# Makes sure every program the tests start is on this machine: a D-Bus session bus and gnome-keyring
# (the real Secret Service), libsecret's secret-tool (reads back what we stored), tmux (the wizard's
# pseudo-terminal), zsh and fish (the completion scripts run in the real shells), the AWS CLI (which
# must use an exported profile) and moto_server (the AWS emulator). Installs the Debian packages when
# run as root; otherwise says what to install. test/unit/setup-script.test.ts reads the table below
# and fails when a test starts a program that it does not name.
set -euo pipefail

# program  Debian package that provides it
needs=(
  "dbus-daemon dbus"
  "dbus-send dbus"
  "gnome-keyring-daemon gnome-keyring"
  "secret-tool libsecret-tools"
  "tmux tmux"
  "zsh zsh"
  "fish fish"
  "aws awscli"
  "systemd-analyze systemd"
)
# Also started by the tests, from Debian's Essential packages (nothing to install): mkfifo, realpath,
# sort (coreutils), dpkg and dpkg-query (dpkg). test/unit/setup-script.test.ts lists them as base tools.

missing=()
for need in "${needs[@]}"; do
  read -r program package <<<"$need"
  command -v "$program" >/dev/null 2>&1 || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  # De-duplicated: two programs of one package name it once.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the tests: ${missing[*]} dbus-x11" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" dbus-x11 >/dev/null
  else
    echo "the tests need these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# Not packaged by Debian 12: moto's server comes from pip, with python3 and PyYAML (which moto needs too).
if ! command -v moto_server >/dev/null 2>&1; then
  echo "the tests need moto's server (moto_server): pip install 'moto[server]'" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "the tests need python3 with PyYAML (installed with moto): pip install 'moto[server]'" >&2
  exit 1
fi
