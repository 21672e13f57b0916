#!/usr/bin/env bash
# Makes sure what the integration tests start is on this machine: a D-Bus session bus and
# gnome-keyring (the real Secret Service), tmux (the wizard's pseudo-terminal), zsh and fish (the
# completion scripts run in the real shells), moto_server (the AWS emulator) and the AWS CLI (which
# must use an exported profile). Installs the Debian packages when run as root; otherwise says what to install.
set -euo pipefail

missing=()
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus)
command -v dbus-send >/dev/null 2>&1 || missing+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v fish >/dev/null 2>&1 || missing+=(fish)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the tests: ${missing[*]} dbus-x11" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" dbus-x11 >/dev/null
  else
    echo "the tests need these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "the tests need moto's server (moto_server): pip install 'moto[server]'" >&2
  exit 1
fi

if ! command -v aws >/dev/null 2>&1; then
  echo "the tests need the AWS CLI (aws), installed with moto here: pip install awscli" >&2
  exit 1
fi
