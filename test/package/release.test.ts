/**
 * `make release` (hack/release.sh), taken as someone downloading the release would:
 * - every artifact is listed in SHA256SUMS and matches it;
 * - the chart tarball, unpacked alone in an empty folder, renders (hack/helm-render, Helm's
 *   engine) into valid YAML holding the CRD, and is byte-for-byte the same when packaged again;
 * - the npm tarball is the package at package.json's version;
 * - the SBOM lists exactly the npm packages whose licences ship in the image's bundle;
 * - the linux-arm64 CLI is an aarch64 executable that runs under qemu-user (Debian's
 *   qemu-user-static): `--version`, and an offline `seal --cert` whose output the core opens.
 * A few minutes (npm pack, two 130 MB binaries, the arm64 one prepared under emulation).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { unseal } from '../../src/core/envelope.js';
import { createSealingCert, generateRsaKeyPair } from '../../src/core/pki.js';
import { findLeaks } from '../env/canary.js';

const root = resolve('.');
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const out = join(root, 'dist', 'release');
const chartFile = `orka-secrets-${version}.tgz`;
let dir: string;
/** The image the release's chart installs (the release workflow passes ghcr.io/OWNER/orka-secrets). */
const IMAGE_REPOSITORY = 'registry.example.com/acme/orka-secrets';
const releaseEnv = { ...process.env, ORKA_IMAGE_REPOSITORY: IMAGE_REPOSITORY };

type Doc = { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'orka-release-'));
  execFileSync('make', ['--no-print-directory', 'release'], { cwd: root, env: releaseEnv, stdio: ['ignore', 'inherit', 'inherit'] });
}, 1_200_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('make release', () => {
  it('writes the chart, the npm tarball, both CLI binaries and the SBOM, each in SHA256SUMS', () => {
    const expected = [chartFile, `orka-secrets-npm-${version}.tgz`, 'orka-secrets-linux-x64', 'orka-secrets-linux-arm64', `orka-secrets-${version}.cdx.json`];
    expect(readdirSync(out).sort()).toEqual([...expected, 'SHA256SUMS'].sort());
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
    expect(sums.trim().split('\n').map((l) => l.split(/\s+\*?/)[1]).sort()).toEqual([...expected].sort());
    const check = spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('packages the chart as Helm does: files only, under orka-secrets/, the CRD inside, reproducible', () => {
    const entries = execFileSync('tar', ['-tvzf', join(out, chartFile)], { encoding: 'utf8' }).trim().split('\n');
    // `-` is a regular file: no directory entries (Helm writes none), no links.
    expect(entries.filter((e) => !e.startsWith('-rw-r--r-- 0/0 '))).toEqual([]);
    const names = entries.map((e) => e.split(/\s+/).at(-1) as string);
    expect(names.filter((n) => !n.startsWith('orka-secrets/'))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['orka-secrets/Chart.yaml', 'orka-secrets/values.yaml', 'orka-secrets/values.schema.json', 'orka-secrets/files/orkasecret.crd.yaml']));
    const crd = execFileSync('tar', ['-xzOf', join(out, chartFile), 'orka-secrets/files/orkasecret.crd.yaml'], { encoding: 'utf8' });
    expect(crd).toBe(readFileSync('crds/orkasecret.yaml', 'utf8'));

    const again = execFileSync('hack/release-chart.sh', [join(dir, 'again')], { env: releaseEnv, encoding: 'utf8' }).trim();
    expect(readFileSync(again).equals(readFileSync(join(out, chartFile)))).toBe(true);
  });

  it('the chart tarball, unpacked alone in an empty folder, renders into valid YAML with the CRD and the release\'s image (ORKA_IMAGE_REPOSITORY) at its version', () => {
    const renderer = execFileSync('hack/helm-render.sh', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    const empty = join(dir, 'unpacked');
    mkdirSync(empty);
    execFileSync('tar', ['-xzf', join(out, chartFile)], { cwd: empty });
    expect(readdirSync(empty)).toEqual(['orka-secrets']);
    const rendered = execFileSync(renderer, ['-chart', 'orka-secrets', '-name', 'orka-secrets', '-namespace', 'orka-system'], { cwd: empty, encoding: 'utf8' });
    const docs = parseAllDocuments(rendered);
    expect(docs.flatMap((d) => d.errors.map((e) => e.message))).toEqual([]);
    const objects = docs.map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null);
    const crd = objects.find((o) => o.kind === 'CustomResourceDefinition');
    expect(crd?.metadata?.name).toBe('orkasecrets.orka.io');
    expect(crd?.spec).toEqual((parse(readFileSync('crds/orkasecret.yaml', 'utf8')) as Doc).spec);
    const deployment = objects.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: { containers: Array<{ image: string }> } } } } | undefined;
    expect(deployment?.spec.template.spec.containers[0]?.image).toBe(`${IMAGE_REPOSITORY}:${version}`);
    // The sidecar the operator injects is the same image.
    expect(objects.some((o) => JSON.stringify(o).includes(`{"name":"ORKA_SIDECAR_IMAGE","value":"${IMAGE_REPOSITORY}:${version}"}`))).toBe(true);
  });

  it('the npm tarball is the package at package.json\'s version', () => {
    const pkg = JSON.parse(execFileSync('tar', ['-xzOf', join(out, `orka-secrets-npm-${version}.tgz`), 'package/package.json'], { encoding: 'utf8' })) as { name: string; version: string };
    expect(pkg).toMatchObject({ name: 'orka-secrets', version });
  });

  it('the SBOM (CycloneDX) lists exactly the npm packages whose licences ship in the image\'s bundle', () => {
    type Component = { group?: string; name: string; version: string; purl?: string; licenses?: unknown[] };
    const bom = JSON.parse(readFileSync(join(out, `orka-secrets-${version}.cdx.json`), 'utf8')) as { bomFormat: string; specVersion: string; metadata: { component: { name: string; version: string } }; components: Component[] };
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6', metadata: { component: { name: 'orka-secrets', version } } });
    // The licence files' headers ("name@version (licence)"), written from esbuild's metafile.
    const headers = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^(@?[^@\s]+)@(\d\S*) \(/gm)].map((m) => `${m[1]}@${m[2]}`);
    const shipped = new Set([...headers('dist/bundle/THIRD_PARTY_LICENSES.txt'), ...headers('dist/bundle/public/THIRD_PARTY_LICENSES.txt')]);
    const listed = bom.components.map((c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`);
    expect(listed.length).toBe(new Set(listed).size);
    expect(new Set(listed)).toEqual(shipped);
    expect(listed).toEqual(expect.arrayContaining([expect.stringMatching(/^express@/), expect.stringMatching(/^@kubernetes\/client-node@/), expect.stringMatching(/^preact@/)]));
    for (const tool of ['vitest', 'typescript', 'esbuild', 'eslint']) expect(listed.some((l) => l.startsWith(`${tool}@`))).toBe(false);
    expect(bom.components.filter((c) => !c.purl?.startsWith('pkg:npm/'))).toEqual([]);
  });
});

describe('the linux-arm64 CLI under qemu-user', () => {
  const binary = join(out, 'orka-secrets-linux-arm64');
  const qemu = () => execFileSync('hack/qemu-arm64.sh', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  /** Runs the binary under emulation from an empty directory, with no kubeconfig and no Node on PATH. */
  const run = (args: string[], input = '') => {
    const home = mkdtempSync(join(dir, 'home-'));
    return spawnSync(qemu(), [binary, ...args], { cwd: home, env: { PATH: '/usr/bin:/bin', HOME: home }, input, encoding: 'utf8', timeout: 120_000 });
  };

  it('is an aarch64 executable that prints the release\'s version', () => {
    const head = readFileSync(binary).subarray(0, 20);
    expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(head.readUInt16LE(18)).toBe(0xb7); // e_machine: EM_AARCH64
    const res = run(['--version']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`${version}\n`);
  });

  it('seals offline with --cert, and the core opens the value for that tenant, namespace and name only', async () => {
    const keyId = 'seal-release-test';
    const pair = generateRsaKeyPair(2048);
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, createSealingCert({ ...pair, commonName: `orka-secrets sealing key ${keyId}`, now: new Date(), validDays: 1 }));
    const value = `arm64-${Date.now()}-value`;
    const res = run(['-n', 'acme', 'seal', 'API_KEY', '--cert', cert, '--tenant', 'tenant-a', '--from-stdin'], value);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(findLeaks(res.stdout, [value])).toEqual([]);
    const manifest = parse(res.stdout) as { metadata: { name: string; namespace?: string }; spec: { sealedValue: string } };
    expect(manifest.metadata.name).toBe('api-key');
    const privateKey = createPrivateKey(pair.privateKeyPem);
    const open = (namespace: string, name: string) =>
      unseal({ privateKeys: (id) => (id === keyId ? privateKey : undefined), binding: { tenantId: 'tenant-a', namespace, name }, sealed: Buffer.from(manifest.spec.sealedValue, 'base64') });
    expect((await open('acme', 'API_KEY')).toString('utf8')).toBe(value);
    await expect(open('acme', 'OTHER_KEY')).rejects.toThrow();
  });
});
