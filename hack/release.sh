#!/usr/bin/env bash
# make release: writes dist/release/ for the version in package.json (make build first):
#   orka-secrets-<v>.tgz         the Helm chart, packaged as `helm package` does (hack/release-chart.sh)
#   orka-secrets-npm-<v>.tgz     the npm package (npm pack; renamed: npm would give it the chart's name)
#   orka-secrets-linux-x64, orka-secrets-linux-arm64   the standalone CLI (hack/cli-binary.sh)
#   orka-secrets-<v>.cdx.json    CycloneDX SBOM of the npm packages bundled into the image
#   SHA256SUMS                   of all of the above
# The chart and npm tarballs are byte-for-byte reproducible (fixed order, owners, modes and times).
# ORKA_RELEASE_TAG (the release workflow sets the Git tag): refuses a tag other than v<version>.
# ORKA_IMAGE_REPOSITORY: the image the packaged chart installs (hack/release-chart.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo ">> release: $*" >&2; }

version=$(node -p 'require("./package.json").version')
chart_version=$(sed -n 's/^version: *//p' charts/orka-secrets/Chart.yaml)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/orka-secrets/Chart.yaml)
if [ "$chart_version" != "$version" ] || [ "$app_version" != "$version" ]; then
  echo "release: package.json says $version, the chart $chart_version (appVersion $app_version): run make version VERSION=$version" >&2; exit 1
fi
if [ -n "${ORKA_RELEASE_TAG:-}" ] && [ "$ORKA_RELEASE_TAG" != "v$version" ]; then
  echo "release: the tag $ORKA_RELEASE_TAG is not v$version (package.json): tag the commit that set the version" >&2; exit 1
fi
out=dist/release
stage=dist/release-stage
rm -rf "$out" "$stage"; mkdir -p "$out" "$stage"
say "version $version into $out/"

say "chart: orka-secrets-$version.tgz (hack/release-chart.sh)"
hack/release-chart.sh "$out" >/dev/null

say "npm package: npm pack (compiles first)"
packed=$(npm pack --pack-destination "$stage" --loglevel=error --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename)')
mv "$stage/$packed" "$out/orka-secrets-npm-$version.tgz"

for arch in x64 arm64; do
  say "standalone CLI for linux-$arch (hack/cli-binary.sh $arch)"
  cp "$(hack/cli-binary.sh "$arch")" "$out/orka-secrets-linux-$arch"
done

say "SBOM of the image's bundled npm packages (CycloneDX, cyclonedx-npm)"
node hack/release-sbom.mjs "$(hack/release-tool.sh @cyclonedx/cyclonedx-npm@6.0.1 cyclonedx-npm)" "$out/orka-secrets-$version.cdx.json"

(cd "$out" && sha256sum -- * > "../release-stage/SHA256SUMS") && mv "$stage/SHA256SUMS" "$out/SHA256SUMS"
rm -rf "$stage"
say "done:"; (cd "$out" && ls -l) >&2
