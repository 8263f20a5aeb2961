#!/usr/bin/env bash
# Builds (once, cached) and prints the path of helm-render: a chart renderer on Go's
# text/template and Sprig from Debian, the engine Helm itself uses (no helm binary can be
# installed here). See hack/helm-render/main.go.
set -euo pipefail
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
here=$(cd "$(dirname "$0")" && pwd)
src="$here/helm-render/main.go"
out="$CACHE/helm-render-$(sha256sum "$src" | cut -c1-12)"
if [ ! -x "$out" ]; then
  "$here/apt-install.sh" golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  echo "helm-render: building $out" >&2
  gopath=$(mktemp -d)
  # GOPATH mode over Debian's Go sources; the /v3 import paths of the modules are links.
  for m in sprig semver; do
    mkdir -p "$gopath/src/github.com/Masterminds/$m"
    ln -s "/usr/share/gocode/src/github.com/Masterminds/$m" "$gopath/src/github.com/Masterminds/$m/v3"
  done
  mkdir -p "$gopath/src/helm-render"
  cp "$src" "$gopath/src/helm-render/main.go"
  mkdir -p "$CACHE"
  (cd "$gopath/src/helm-render" && env GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$gopath/.cache" go build -o "$out.tmp" .) >&2
  mv "$out.tmp" "$out"
  rm -rf "$gopath"
fi
echo "$out"
