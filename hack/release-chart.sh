#!/usr/bin/env bash
# Packages charts/orka-secrets as `helm package` does: DIR/orka-secrets-<version>.tgz holding the
# chart's files (regular files only, no directory entries) under the top folder orka-secrets/, the
# CRD file inside it (files/orkasecret.crd.yaml links to crds/orkasecret.yaml in the repository:
# the tarball holds the file, so it unpacks and renders alone). Byte-for-byte reproducible: sorted
# entries, owner 0, modes 0644, mtime SOURCE_DATE_EPOCH (default: the last commit's time), gzip
# without a name or time. Prints the tarball's path. Usage: hack/release-chart.sh DIR
set -euo pipefail
out="${1:?usage: hack/release-chart.sh DIR}"
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version: *//p' "$root/charts/orka-secrets/Chart.yaml")
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -rL "$root/charts/orka-secrets" "$stage/orka-secrets"
if [ -n "$(find "$stage/orka-secrets" -type l)" ]; then echo "release: a link is left in the chart" >&2; exit 1; fi
mkdir -p "$out"
(cd "$stage" && find orka-secrets -type f | LC_ALL=C sort) |
  tar --no-recursion --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --mode='u=rw,go=r' --format=gnu -C "$stage" -T - -cf - |
  gzip -9n > "$out/orka-secrets-$version.tgz"
echo "$out/orka-secrets-$version.tgz"
