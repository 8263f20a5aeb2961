#!/usr/bin/env node
/* global console, process */
// The CycloneDX SBOM of the npm packages the image ships. The image holds no node_modules: only
// esbuild's bundle (dist/bundle, with the Secrets page in dist/bundle/public), so a scanner of the
// image finds no npm package at all. The build lists what each bundle contains
// (bundled-packages.json, from esbuild's metafile: hack/licenses.mjs); cyclonedx-npm describes the
// whole installed tree (licences, purls, hashes, the dependency graph); this keeps the components
// that are in a bundle and fails if one of them is missing. The Debian packages and Node of the
// base image are the image SBOM's business (docker buildx --sbom in the release workflow).
// Usage: node hack/release-sbom.mjs CYCLONEDX_NPM_EXECUTABLE OUTPUT.json
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [cyclonedx, output] = process.argv.slice(2);
if (!cyclonedx || !output) {
  console.error('usage: node hack/release-sbom.mjs CYCLONEDX_NPM_EXECUTABLE OUTPUT.json');
  process.exit(2);
}
const lists = ['dist/bundle/bundled-packages.json', 'dist/bundle/public/bundled-packages.json'];
for (const f of lists) if (!existsSync(f)) throw new Error(`${f} is missing: run make build first`);
const shipped = new Set(lists.flatMap((f) => JSON.parse(readFileSync(f, 'utf8')).map((p) => `${p.name}@${p.version}`)));

// --output-reproducible: no timestamp or random serial number, so the same tree gives the same file.
const bom = JSON.parse(execFileSync(cyclonedx, ['--output-format', 'JSON', '--output-reproducible', '--flatten-components', '--spec-version', '1.6', '--output-file', '-'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] }));

const key = (c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`;
// One component per package version (a version installed in two places is one package shipped).
const keptRef = new Map();
const components = [];
for (const c of bom.components) {
  if (!shipped.has(key(c))) continue;
  const first = components.find((k) => key(k) === key(c));
  if (first) keptRef.set(c['bom-ref'], first['bom-ref']);
  else {
    keptRef.set(c['bom-ref'], c['bom-ref']);
    components.push(c);
  }
}
const missing = [...shipped].filter((p) => !components.some((c) => key(c) === p));
if (missing.length > 0) throw new Error(`bundled packages that cyclonedx-npm does not describe (is node_modules installed with npm ci?): ${missing.join(', ')}`);

const root = bom.metadata.component['bom-ref'];
const dependencies = [];
for (const d of bom.dependencies ?? []) {
  const ref = d.ref === root ? root : keptRef.get(d.ref);
  if (ref !== d.ref) continue;
  const on = [...new Set((d.dependsOn ?? []).map((r) => keptRef.get(r)).filter(Boolean))].sort();
  dependencies.push({ ref, dependsOn: on });
}
bom.metadata.component.description = 'The npm packages bundled into the orka-secrets image (dist/bundle: the operator, the sidecar, the CLI and the Secrets page)';
bom.components = components.sort((a, b) => key(a).localeCompare(key(b)));
bom.dependencies = dependencies.sort((a, b) => a.ref.localeCompare(b.ref));
writeFileSync(output, `${JSON.stringify(bom, null, 2)}\n`);
console.error(`release: SBOM ${output}: ${components.length} bundled npm packages (CycloneDX ${bom.specVersion})`);
