#!/usr/bin/env node
/* global console, process */
// The version lives in package.json; this stamps it everywhere else that must carry it (the chart's
// version and appVersion, hence the image tag the chart defaults to) and opens its CHANGELOG
// section. `--version` and the standalone binaries read package.json when they are built.
// Usage: node hack/set-version.mjs 0.2.0     (make version VERSION=0.2.0)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const version = process.argv[2];
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version ?? '')) {
  console.error('usage: node hack/set-version.mjs MAJOR.MINOR.PATCH[-PRERELEASE]');
  process.exit(2);
}
// npm writes package.json and package-lock.json alike, and refuses what is not semver.
execFileSync('npm', ['version', version, '--no-git-tag-version', '--allow-same-version'], { stdio: 'inherit' });
const chart = 'charts/orka-secrets/Chart.yaml';
const text = readFileSync(chart, 'utf8');
const stamped = text.replace(/^version: .*$/m, `version: ${version}`).replace(/^appVersion: .*$/m, `appVersion: "${version}"`);
if (!/^version: /m.test(text) || !/^appVersion: /m.test(text)) throw new Error(`${chart} has no version or appVersion line`);
writeFileSync(chart, stamped);
const changelog = readFileSync('CHANGELOG.md', 'utf8');
if (!changelog.includes(`## ${version}`)) writeFileSync('CHANGELOG.md', changelog.replace('## Unreleased', `## Unreleased\n\n## ${version} (${new Date().toISOString().slice(0, 10)})`));
console.log(`version ${version}: package.json, package-lock.json, ${chart}, CHANGELOG.md`);
