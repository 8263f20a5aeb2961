#!/usr/bin/env bash
# Installs (once, cached) a pinned npm tool that only the release needs, outside the project's
# dependencies, and prints the path of its executable. Install scripts and optional dependencies
# are skipped: the tools are used for their JavaScript only.
# Usage: hack/release-tool.sh PACKAGE@VERSION EXECUTABLE
set -euo pipefail
spec="$1" exe="$2"
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
dir="$CACHE/tools/$(echo "$spec" | tr '/@' '__')"
if [ ! -x "$dir/node_modules/.bin/$exe" ]; then
  echo "release: installing $spec from npm (once, into $dir)" >&2
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-save --no-audit --no-fund --loglevel=error --omit=optional --ignore-scripts "$spec" >&2
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
echo "$dir/node_modules/.bin/$exe"
