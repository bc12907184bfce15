#!/usr/bin/env bash
# Chromium for browser checks: installs Debian's chromium package when it is missing (idempotent).
# Commands: scripts/chromium.sh --help.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
Install Debian's chromium package when it is missing, and print the path of the chromium binary.

Usage: scripts/chromium.sh [install]   (the default; a no-op when \`command -v chromium\` succeeds)
       scripts/chromium.sh -h | --help

Runs \`apt-get update\` once, then \`apt-get install -y --no-install-recommends chromium\` (as root,
or through sudo when that is available). Waits up to APT_LOCK_TIMEOUT seconds [${APT_LOCK_TIMEOUT:-300}]
for another apt or dpkg run to release its lock.
USAGE
}

cmd_install() {
  local path
  if path="$(command -v chromium)"; then
    echo "$path"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available (install Chromium by hand)"
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "chromium is missing; installing it needs root (or sudo)"
    sudo=(sudo)
  fi
  # apt-get waits for the dpkg lock itself with DPkg::Lock::Timeout, instead of failing at once.
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="${APT_LOCK_TIMEOUT:-300}")
  log "chromium not found: apt-get update"
  "${apt[@]}" update -qq || die "apt-get update failed"
  log "apt-get install chromium"
  "${apt[@]}" install -y -qq --no-install-recommends chromium || die "apt-get install chromium failed"
  path="$(command -v chromium)" || die "the chromium package is installed but no chromium command is on PATH"
  log "installed $("$path" --version 2>/dev/null || echo chromium)"
  echo "$path"
}

case "${1:-install}" in
  install) cmd_install ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
