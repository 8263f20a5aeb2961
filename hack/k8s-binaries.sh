#!/usr/bin/env bash
# Makes sure the Kubernetes binaries the tests need exist in the cache and prints their directory.
#   etcd            from Debian (etcd-server)
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#                   built from Debian bookworm's `kubernetes` source package (1.20.2, vendored,
#                   builds offline with Debian's Go); no registry here serves prebuilt ones.
# The build takes about 10 to 13 minutes on 2 cores, once per machine: results are cached outside the
# work tree, keyed by version. Progress goes to stderr; stdout is only the directory.
set -euo pipefail

K8S_VERSION=1.20.2
# Bumped whenever the build recipe changes, so that caches of an older recipe are rebuilt.
RECIPE=2
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
out="$CACHE/k8s-$K8S_VERSION-r$RECIPE"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
log() { echo "k8s-binaries: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
apt_install() { "$here/apt-install.sh" "$@"; }

apt_install etcd-server etcd-client util-linux strace   # etcdctl for the canary tests; setpriv (util-linux) so test processes die with their parent; strace for the no-disk test
command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client
complete=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || complete=0; done
if [ "$complete" -eq 1 ]; then echo "$out"; exit 0; fi

apt_install golang-go rsync dpkg-dev ca-certificates golang-github-modern-go-reflect2-dev
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding a deb-src entry for bookworm (the source package is needed, not a binary)"
  cat > /etc/apt/sources.list.d/orka-secrets-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq >&2
fi

work="$CACHE/k8s-src"
mkdir -p "$work"
cd "$work"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  log "downloading the Debian source package kubernetes"
  apt-get source --download-only kubernetes >&2
fi
src="$work/kubernetes-$K8S_VERSION"
if [ ! -d "$src" ]; then
  log "unpacking $(ls kubernetes_*.orig.tar.gz)"
  tmp=$(mktemp -d "$work/unpack.XXXX")
  tar -xzf kubernetes_*.orig.tar.gz -C "$tmp"
  mv "$tmp"/* "$src"; rmdir "$tmp"
fi
cd "$src"
# Kubernetes 1.20 vendors reflect2 1.0.1, which walks Go maps through runtime internals that
# changed in Go 1.18: built with Debian's Go 1.19, kube-apiserver dies with SIGSEGV in
# mapiterinit on the first custom resource it serializes. reflect2 1.0.2 (Debian's
# golang-github-modern-go-reflect2-dev) is the upstream fix, same API.
log "replacing vendored reflect2 1.0.1 with Debian's 1.0.2 (Go >= 1.18 fix)"
rsync -a --delete --exclude='*_test.go' /usr/share/gocode/src/github.com/modern-go/reflect2/ vendor/github.com/modern-go/reflect2/
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "building ${bins[*]} $K8S_VERSION with $(go version | cut -d' ' -f3) (about 10 to 13 minutes on 2 cores)"
start=$(date +%s)
what=""; for b in "${bins[@]}"; do what="$what cmd/$b"; done
gohome=$(mktemp -d)
env GOPATH="$src/.go" CGO_ENABLED=0 HOME="$gohome" make WHAT="${what# }" >&2
rm -rf "$gohome"
mkdir -p "$out.tmp"
for b in "${bins[@]}"; do cp "_output/bin/$b" "$out.tmp/$b"; done
# The pause container of pods (used by the single-node cluster); static so it runs in any image.
if command -v gcc >/dev/null 2>&1; then gcc -Os -static -o "$out.tmp/pause" build/pause/linux/pause.c 2>/dev/null || true; fi
rm -rf "$out"; mv "$out.tmp" "$out"
log "built in $(( $(date +%s) - start )) s into $out"
cd "$CACHE" && rm -rf "$work"
echo "$out"
