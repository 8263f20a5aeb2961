#!/usr/bin/env bash
# Builds the standalone CLI, dist/orka-secrets-linux-<arch> (arch: x64, the default, or arm64): a
# Node single executable application (the CLI bundled by esbuild into one CommonJS file, injected
# with postject into a copy of the official Node binary from the npm package node-linux-<arch>).
# Runs with no Node installed. The arm64 blob is prepared by the arm64 Node itself under
# qemu-user (hack/qemu-arm64.sh), as V8's code cache in it is specific to the Node that reads it.
# Progress goes to stderr; the binary's path to stdout. Usage: hack/cli-binary.sh [x64|arm64]
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-x64}"
case "$arch" in x64 | arm64) ;; *) echo "usage: hack/cli-binary.sh [x64|arm64]" >&2; exit 2 ;; esac
NODE_PKG_VERSION="${ORKA_NODE_VERSION:-24.21.0}"
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
pkg="node-linux-$arch"
# x64 keeps its historical cache folder, so an existing cache is reused.
cached="$CACHE/node-$NODE_PKG_VERSION$([ "$arch" = x64 ] || echo "-$arch")"
node_bin="$cached/node_modules/$pkg/bin/node"
out=dist/orka-secrets-linux-$arch
work=dist/sea-$arch
version=$(node -p 'require("./package.json").version')
# The binary is rebuilt only when what goes into it changed (the sources, the packages, this
# script, the Node version): make test-package builds the x64 one for the CLI test and again for
# make release, and each build takes about half a minute (the arm64 one more, under emulation).
inputs=$( { echo "$arch $NODE_PKG_VERSION $version"; cat hack/cli-binary.sh package.json package-lock.json; find src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-64)
if [ -x "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$inputs" ]; then
  echo "cli-binary: $out is current (its inputs are unchanged)" >&2
  echo "$out"; exit 0
fi
if [ ! -x "$node_bin" ]; then
  # The official build, whatever Node is on PATH: a distribution's node may lack SEA support.
  echo "cli-binary: installing Node $NODE_PKG_VERSION from npm package $pkg" >&2
  tmp="$cached.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  # --force: npm would refuse a package for another CPU than this one.
  npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error --force "$pkg@$NODE_PKG_VERSION" >&2
  rm -rf "$cached"; mv "$tmp" "$cached"
fi
run_node=("$node_bin")
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then run_node=("$(hack/qemu-arm64.sh)" "$node_bin"); fi

rm -rf "$work" "$out.inputs"; mkdir -p "$work"
echo "cli-binary: bundling src/cli/sea-main.ts and its parts (esbuild)" >&2
# Whitespace and syntax minified (names kept, as in the image's bundle).
bundle() { # ENTRY OUTFILE [esbuild flags...]
  local entry=$1 outfile=$2; shift 2
  npx esbuild "$entry" --bundle --platform=node --format=cjs --target=node24 --log-level=error --minify-whitespace --minify-syntax \
    --define:ORKA_CLI_VERSION="\"$version\"" --define:import.meta.url=__orka_meta_url --outfile="$outfile" "$@" >&2
}
meta='var __orka_meta_url = require("node:url").pathToFileURL(__filename).href;'
bundle src/cli/sea-main.ts "$work/cli.cjs" --banner:js="$meta"

# --- Start-up: the parts and their V8 code caches (docs/design/startup.md) -------------------
# The main script is only the dispatch; `run`, the command line and the Kubernetes client are
# assets, each wrapped as a function expression for src/cli/sea-main.ts and shipped with a code
# cache made here by the same Node, so a command parses and keeps only the parts it uses
# (`--version` none, `run` its own, an offline `seal` no Kubernetes client). The main script's own
# code cache is the SEA's useCodeCache. Both are made by the target's own Node (arm64: under qemu-user).
# Each part exports its own fail(): a part's CliError is its own class, not the main script's.
echo "export { runMain } from '$PWD/src/cli/run.ts'; export { fail } from '$PWD/src/cli/errors.ts';" > "$work/run.mjs"
echo "export { main } from '$PWD/src/cli/program.ts'; export { fail } from '$PWD/src/cli/errors.ts';" > "$work/program.mjs"
echo "export * from '@kubernetes/client-node';" > "$work/k8s.mjs"
parts=(run:$work/run.mjs program:$work/program.mjs k8s:$work/k8s.mjs)
for part in "${parts[@]}"; do
  external=(--external:@kubernetes/client-node); [ "${part%%:*}" = k8s ] && external=()
  # import() of what stays outside a part becomes require(): the parts run as plain scripts.
  bundle "${part#*:}" "$work/${part%%:*}.cjs" "${external[@]}" --supported:dynamic-import=false \
    --banner:js="(function (exports, require, module, __filename) { $meta" --footer:js='})'
done
"${run_node[@]}" -e 'const fs = require("node:fs"), vm = require("node:vm");
for (const name of process.argv.slice(2)) {
  const file = `${process.argv[1]}/${name}.cjs`;
  const script = new vm.Script(fs.readFileSync(file, "utf8"), { filename: `orka-secrets/${name}.cjs` });
  fs.writeFileSync(`${process.argv[1]}/${name}.cache`, script.createCachedData());
}' "$work" "${parts[@]%%:*}"
sea_flags='"useCodeCache": true, "useSnapshot": false'
sea_assets=$(for p in "${parts[@]%%:*}"; do printf '"%s.cjs": "%s", "%s.cache": "%s", ' "$p" "$work/$p.cjs" "$p" "$work/$p.cache"; done)
sea_assets=${sea_assets%, }
# ----------------------------------------------------------------------------------------------
cat > "$work/sea-config.json" <<JSON
{ "main": "$work/cli.cjs", "output": "$work/cli.blob", "disableExperimentalSEAWarning": true, $sea_flags, "assets": { $sea_assets } }
JSON
echo "cli-binary: preparing the SEA blob with Node $NODE_PKG_VERSION linux-$arch and injecting it (postject)" >&2
"${run_node[@]}" --experimental-sea-config "$work/sea-config.json" >&2
cp "$node_bin" "$out.tmp"
chmod u+w "$out.tmp"
npx postject "$out.tmp" NODE_SEA_BLOB "$work/cli.blob" --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >&2
mv "$out.tmp" "$out"
echo "$inputs" > "$out.inputs"
echo "cli-binary: $(du -h "$out" | cut -f1) $out" >&2
echo "$out"
