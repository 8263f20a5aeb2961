#!/usr/bin/env bash
# Packages charts/orka-secrets as `helm package` does: DIR/orka-secrets-<version>.tgz holding the
# chart's files (regular files only, no directory entries) under the top folder orka-secrets/, the
# CRD file inside it (files/orkasecret.crd.yaml links to crds/orkasecret.yaml in the repository:
# the tarball holds the file, so it unpacks and renders alone). Byte-for-byte reproducible: sorted
# entries, owner 0, modes 0644, mtime SOURCE_DATE_EPOCH (default: the last commit's time), gzip
# without a name or time. Prints the tarball's path. Usage: hack/release-chart.sh DIR
# ORKA_IMAGE_REPOSITORY (the release workflow sets ghcr.io/OWNER/orka-secrets): written into the
# packaged values.yaml as image.repository, so the published chart pulls the published image (the
# repository's default, orka-secrets, names an image no registry holds).
set -euo pipefail
out="${1:?usage: hack/release-chart.sh DIR}"
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version: *//p' "$root/charts/orka-secrets/Chart.yaml")
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -rL "$root/charts/orka-secrets" "$stage/orka-secrets"
if [ -n "$(find "$stage/orka-secrets" -type l)" ]; then echo "release: a link is left in the chart" >&2; exit 1; fi
if [ -n "${ORKA_IMAGE_REPOSITORY:-}" ]; then
  if ! printf '%s' "$ORKA_IMAGE_REPOSITORY" | grep -Eqx '([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9._-]+(/[a-z0-9._-]+)*'; then
    echo "release: ORKA_IMAGE_REPOSITORY=$ORKA_IMAGE_REPOSITORY is not an image repository (lower case, no tag)" >&2; exit 1
  fi
  values="$stage/orka-secrets/values.yaml"
  # The first `  repository:` line is image.repository (the test below fails the release otherwise).
  sed -i "0,/^  repository: .*/s##  repository: $ORKA_IMAGE_REPOSITORY#" "$values"
  if ! sed -n '/^image:/,/^[^ #]/p' "$values" | grep -qx "  repository: $ORKA_IMAGE_REPOSITORY"; then
    echo "release: could not set image.repository in the packaged values.yaml" >&2; exit 1
  fi
fi
mkdir -p "$out"
(cd "$stage" && find orka-secrets -type f | LC_ALL=C sort) |
  tar --no-recursion --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --mode='u=rw,go=r' --format=gnu -C "$stage" -T - -cf - |
  gzip -9n > "$out/orka-secrets-$version.tgz"
echo "$out/orka-secrets-$version.tgz"
