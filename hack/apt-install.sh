#!/usr/bin/env bash
# Installs the Debian packages among its arguments that are not installed yet (as root; CI and a
# fresh machine start without them). Refreshes the package lists only when an install needs it.
# Progress goes to stderr. Usage: hack/apt-install.sh [--why "what they are for"] PACKAGE...
set -euo pipefail
why=""
if [ "${1:-}" = "--why" ]; then why=" ($2)"; shift 2; fi
missing=()
for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo ">> installing Debian packages: ${missing[*]}$why" >&2
[ "$(id -u)" -eq 0 ] || { echo "need root to apt-get install ${missing[*]}" >&2; exit 1; }
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
install 2>/dev/null || { apt-get update -qq >&2 && install; }
