/**
 * What the CLI stores is exactly the value the person gave: read back through the resolver API
 * (as a sidecar would) after `create --from-stdin` (one trailing newline removed, nothing else),
 * `create --from-file` (every byte kept) and `seal --cert` offline (no cluster reachable).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CERT_CONFIGMAP } from '../../src/api/resource.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { adminKubeConfig, createNamespace, createServiceAccount, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
let dir: string;
let caPem: string;
let token: string;

/** Runs the CLI (compiled, as installed). */
function cli(args: string[], input?: string | Buffer, kubeconfig = cp.kubeconfigPath): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', kubeconfig, '--operator-namespace', opNamespace, '-n', tenant, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** The value the resolver API serves for a name, as a sidecar of the tenant gets it. */
function resolve(name: string): Promise<string | undefined> {
  return new Promise((done, reject) => {
    const req = request(
      { host: '127.0.0.1', port: operator.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`resolve answered ${res.statusCode}`));
          done((JSON.parse(text) as { values: Record<string, string> }).values[name]);
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ names: [name] }));
  });
}

const objectName = (name: string) => name.toLowerCase().replaceAll('_', '-');

/** Waits until the name is stored at `version`, then returns what the resolver serves. */
async function stored(name: string, version = 1): Promise<string | undefined> {
  await waitForReady(kc, tenant, objectName(name), 'Stored', (o) => o.status?.version === version);
  return await resolve(name);
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  opNamespace = await createNamespace(kc, { prefix: 'orka-fidelity' });
  tenant = await createNamespace(kc, { prefix: 'fidelity', tenant: 'fidelity' });
  await createServiceAccount(kc, tenant, 'runner');
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'fidelity-op', env: { ORKA_WATCH_NAMESPACES: tenant } });
  await operator.waitForLog(/resolver API and webhooks listening/);
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
  token = (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token;
  dir = mkdtempSync(join(tmpdir(), 'orka-cli-fidelity-'));
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('CLI value fidelity', () => {
  it.each([
    ['one trailing newline is removed', 'STDIN_ECHO', 'sk_live_a/b+c"d&e\n', 'sk_live_a/b+c"d&e'],
    ['only one of two trailing newlines', 'STDIN_TWO_NEWLINES', 'line one\nline two\n\n', 'line one\nline two\n'],
    ['a trailing CRLF (a Windows terminal) is one newline', 'STDIN_CRLF', 'crlf-value\r\n', 'crlf-value'],
    ['no newline: nothing removed', 'STDIN_PLAIN', 'no-newline', 'no-newline'],
    ['spaces and tabs are kept', 'STDIN_SPACES', '  padded\tvalue  \n', '  padded\tvalue  '],
    ['non-ASCII text is kept', 'STDIN_UNICODE', 'pässwörd ✓ 密码 🔑\n', 'pässwörd ✓ 密码 🔑'],
  ])('create --from-stdin: %s', async (_what, name, input, expected) => {
    const res = cli(['create', name, '--from-stdin'], input);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(await stored(name)).toBe(expected);
  });

  it.each([
    ['a trailing newline is kept', 'FILE_NEWLINE', 'value\n'],
    ['leading and trailing blank lines are kept', 'FILE_BLANK_LINES', '\n\nvalue\n\n'],
    ['CRLF line ends are kept', 'FILE_CRLF', 'line one\r\nline two\r\n'],
    ['a PEM private key, byte for byte', 'FILE_PEM', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC/+"&==\n-----END PRIVATE KEY-----\n'],
  ])('create --from-file: %s', async (_what, name, content) => {
    const file = join(dir, name);
    writeFileSync(file, content);
    const res = cli(['create', name, '--from-file', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(await stored(name)).toBe(content);
  });

  it('refuses a file that is not UTF-8 text with a clear error, storing nothing (never altered)', async () => {
    const file = join(dir, 'binary');
    writeFileSync(file, Buffer.from([0x76, 0x61, 0x6c, 0xff, 0xfe, 0x00, 0x80]));
    const res = cli(['create', 'BINARY', '--from-file', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/UTF-8/);
    await expect(kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, name: 'binary' })).rejects.toMatchObject({ code: 404 });
  });

  it('update --from-file replaces the value with every byte of the file', async () => {
    const file = join(dir, 'update');
    writeFileSync(file, 'first\n');
    expect(cli(['create', 'UPDATED', '--from-file', file]).code).toBe(0);
    expect(await stored('UPDATED')).toBe('first\n');
    writeFileSync(file, 'second\n\n');
    expect(cli(['update', 'UPDATED', '--from-file', file]).code).toBe(0);
    expect(await stored('UPDATED', 2)).toBe('second\n\n');
  });

  it('seal --cert works offline, and what it sealed is what gets stored', async () => {
    const cm = await eventually(() => kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: opNamespace }));
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, cm.data?.['cert.pem'] ?? '');
    // No cluster reachable: a kubeconfig whose server refuses every connection.
    const offline = join(dir, 'offline-kubeconfig');
    writeFileSync(offline, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    const value = 'offline/sealed+value"with&awkward chars';
    const res = cli(['seal', 'OFFLINE_SEALED', '--from-stdin', '--cert', certFile, '--tenant', 'fidelity'], `${value}\n`, offline);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).not.toContain(value);
    const manifest = parse(res.stdout) as OrkaSecret;
    expect(manifest.metadata).toMatchObject({ name: 'offline-sealed', namespace: tenant });
    // Without --cert and without a cluster, sealing cannot work: proof the run above used the file.
    expect(cli(['seal', 'OFFLINE_SEALED', '--from-stdin'], `${value}\n`, offline).code).toBe(4);
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, body: manifest });
    expect(await stored('OFFLINE_SEALED')).toBe(value);
  });
});
