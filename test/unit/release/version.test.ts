import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

describe('the version, in one place', () => {
  it('the chart carries package.json\'s version as version and appVersion (so the image tag it defaults to), and CHANGELOG.md has its section', () => {
    const chart = parse(readFileSync('charts/orka-secrets/Chart.yaml', 'utf8')) as { version: string; appVersion: string };
    expect(chart.version).toBe(pkg.version);
    expect(chart.appVersion).toBe(pkg.version);
    expect(readFileSync('CHANGELOG.md', 'utf8')).toContain(`## ${pkg.version}`);
    expect(readFileSync('charts/orka-secrets/templates/_helpers.tpl', 'utf8')).toMatch(/\.Values\.image\.tag \| default \.Chart\.AppVersion/);
  });

  it('hack/set-version.mjs stamps a new version into package.json, the lock file, the chart and the changelog; refuses a bad one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orka-version-'));
    try {
      for (const f of ['package.json', 'package-lock.json', 'CHANGELOG.md', 'hack/set-version.mjs', 'charts/orka-secrets/Chart.yaml']) cpSync(f, join(dir, f), { recursive: true });
      execFileSync(process.execPath, ['hack/set-version.mjs', '9.8.7'], { cwd: dir, stdio: 'pipe' });
      const read = (f: string) => readFileSync(join(dir, f), 'utf8');
      expect((JSON.parse(read('package.json')) as { version: string }).version).toBe('9.8.7');
      expect((JSON.parse(read('package-lock.json')) as { version: string }).version).toBe('9.8.7');
      expect(parse(read('charts/orka-secrets/Chart.yaml'))).toMatchObject({ version: '9.8.7', appVersion: '9.8.7' });
      expect(read('CHANGELOG.md')).toMatch(/## Unreleased\n\n## 9\.8\.7 \(\d{4}-\d{2}-\d{2}\)/);
      const bad = spawnSync(process.execPath, ['hack/set-version.mjs', 'v1'], { cwd: dir, encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/usage/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
