/**
 * The CLI as people install it, against the real control plane:
 * - `npm pack`, installed into an empty prefix: `orka-secrets` and `kubectl-orka` on PATH, built
 *   JavaScript only (no TypeScript, tests or source maps);
 * - the standalone binary of `make cli-binary`, run as `kubectl orka` from an empty directory
 *   with no Node on PATH.
 * One to two minutes (npm install of the production dependencies, a 130 MB binary), so it is its own
 * project (`make test-package`, part of `make test`), not part of every integration run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';

const cp = inject('controlPlane');
const root = resolve('.');
const version = (JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json"))'], { encoding: 'utf8' })) as { version: string }).version;
let kc: KubeConfig;
let dir: string;
let tenant: string;

/** A directory holding only kubectl (a symlink), for a PATH without Node. */
function kubectlOnly(into: string): string {
  const bin = join(into, 'bin');
  mkdirSync(bin, { recursive: true });
  const kubectl = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  symlinkSync(kubectl, join(bin, 'kubectl'));
  return bin;
}

function run(command: string, args: string[], options: { cwd: string; path: string }): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(command, args, { cwd: options.cwd, env: { PATH: options.path, HOME: options.cwd }, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  tenant = await createNamespace(kc, { prefix: 'cli-pkg', tenant: 'pkg' });
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...osecCoords(tenant),
    body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'packaged-key' }, spec: { description: 'from the package test' } },
  });
  dir = mkdtempSync(join(tmpdir(), 'orka-cli-pkg-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('installs orka-secrets and kubectl-orka into an empty prefix, with built JavaScript only', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir, '--loglevel=error'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0]?.files.map((f) => f.path) ?? [];
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('package.json');
    expect(files.filter((f) => !/^(dist\/src\/.*\.js|dist\/src\/dashboard\/public\/[^/]+|crds\/[^/]+\.yaml|package\.json|README\.md|LICENSE)$/.test(f))).toEqual([]);
    expect(files).toContain('dist/src/dashboard/public/index.html');

    const prefix = join(dir, 'prefix');
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', join(dir, packed[0]?.filename as string)], { stdio: ['ignore', 'inherit', 'inherit'] });
    expect(readdirSync(join(prefix, 'bin')).sort()).toEqual(['kubectl-orka', 'kubectl_complete-orka', 'orka-secrets']);
    const installed = join(prefix, 'lib', 'node_modules', 'orka-secrets', 'node_modules');
    for (const dev of ['vitest', 'typescript', 'eslint', 'esbuild', 'postject']) expect(existsSync(join(installed, dev))).toBe(false);

    // Node on PATH (the package is JavaScript), the project's tree nowhere near.
    const cwd = mkdtempSync(join(dir, 'npm-cwd-'));
    const path = `${join(prefix, 'bin')}:${kubectlOnly(cwd)}:${process.execPath.replace(/\/node$/, '')}`;
    expect(run('orka-secrets', ['--version'], { cwd, path }).stdout).toBe(`${version}\n`);
    const listed = run('kubectl', ['orka', '--kubeconfig', cp.kubeconfigPath, '-n', tenant, 'list'], { cwd, path });
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toMatch(/^PACKAGED_KEY\s+from the package test/m);
    // What kubectl (1.26 and later) runs for `kubectl orka <TAB>`: the words after `orka`, Cobra's format back.
    const completed = run('kubectl_complete-orka', ['--kubeconfig', cp.kubeconfigPath, '-n', tenant, 'describe', 'PACK'], { cwd, path });
    expect(completed.stdout).toBe('PACKAGED_KEY\n:4\n');
  });
});

describe('the standalone binary', () => {
  it('is built by make cli-binary and runs as kubectl orka with no Node on PATH', () => {
    execFileSync('make', ['--no-print-directory', 'cli-binary'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    const empty = mkdtempSync(join(dir, 'download-'));
    const bin = kubectlOnly(empty);
    copyFileSync(join(root, 'dist', 'orka-secrets-linux-x64'), join(bin, 'kubectl-orka'));
    execFileSync('chmod', ['+x', join(bin, 'kubectl-orka')]);
    expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: bin } }).status).not.toBe(0);

    expect(run('kubectl', ['orka', '--version'], { cwd: empty, path: bin }).stdout).toBe(`${version}\n`);
    const listed = run('kubectl', ['orka', '--kubeconfig', cp.kubeconfigPath, '-n', tenant, 'list', '-o', 'json'], { cwd: empty, path: bin });
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ kind: 'List', items: [{ metadata: { name: 'packaged-key' }, spec: { description: 'from the package test' } }] });
    const missing = run('kubectl', ['orka', 'list'], { cwd: empty, path: bin });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/no kubeconfig: looked for .*\.kube\/config/);
  });
});
