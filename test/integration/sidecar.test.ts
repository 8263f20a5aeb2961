/**
 * Resolver API and sidecar, end to end on a real control plane: real operator and sidecar
 * processes, real projected-style tokens from the TokenRequest API, no values on disk or in logs.
 */
import { createPrivateKey, createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient, type OrkaError } from '../../src/client/index.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { WATCH_TIMEOUT_SECONDS } from '../../src/operator/kube/informers.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let custom: CustomObjectsApi;
let opNamespace: string;
let tenantA: string;
let tenantB: string;
let plain: string;
let operator: OperatorProcess;
/** Every operator process of this file, for the log search. */
const operators: OperatorProcess[] = [];
let dir: string;
let caFile: string;
let caPem: string;
const sidecars: SidecarProcess[] = [];
const planted = canaries();
const canary = planted.make;
/** Planted values in order: [0] tenant A API_KEY, [1] tenant A DB_PASSWORD, [2] tenant B API_KEY. */
const values = planted.all;
const osec = osecCoords;

async function putSecret(namespace: string, name: string, value: string): Promise<void> {
  const secretName = name.toUpperCase().replaceAll('-', '_');
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, namespace, secretName, value);
  try {
    await custom.createNamespacedCustomObject({ ...osec(namespace), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await custom.patchNamespacedCustomObject({ ...osec(namespace), name, body: { spec: { sealedValue } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
}

const waitStored = (namespace: string, name: string) => waitForReady(kc, namespace, name, 'Stored');

/** A token file for a ServiceAccount bound to a fresh pod, written by the test (as the kubelet would). */
async function tokenFile(namespace: string, sa: string, audience = 'orka-secrets'): Promise<string> {
  const path = join(dir, `${namespace}-${sa}-${audience}.token`);
  writeFileSync(path, (await podBoundToken(kc, { namespace, serviceAccount: sa, audience })).token);
  return path;
}

/** Calls the resolver directly with a token. */
function resolveDirect(token: string, names: string[]): Promise<{ status: number; body: { values?: Record<string, string>; missing?: string[]; error?: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: operator.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ names }));
  });
}

/** A service-account JWT signed by `keyPem`, with any claims: for expired and forged tokens. */
function signToken(keyPem: string, namespace: string, sa: string, exp: number): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ iss: 'https://kubernetes.default.svc', sub: `system:serviceaccount:${namespace}:${sa}`, aud: ['orka-secrets'], iat: now - 7200, nbf: now - 7200, exp, 'kubernetes.io': { namespace, serviceaccount: { name: sa, uid: '00000000-0000-0000-0000-000000000000' } } })}`;
  return `${body}.${createSign('RSA-SHA256').update(body).sign(createPrivateKey(keyPem)).toString('base64url')}`;
}

async function sidecarFor(namespace: string, env: Record<string, string> = {}, straceOutput?: string): Promise<{ sidecar: SidecarProcess; client: OrkaSecretsClient }> {
  const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile: await tokenFile(namespace, 'runner'), caFile, env, ...(straceOutput ? { straceOutput } : {}) });
  sidecars.push(sidecar);
  await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
  return { sidecar, client: new OrkaSecretsClient({ baseUrl: sidecar.url }) };
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-resolver' });
  tenantA = await createNamespace(kc, { prefix: 'tenant-a', tenant: 'a' });
  tenantB = await createNamespace(kc, { prefix: 'tenant-b', tenant: 'b' });
  plain = await createNamespace(kc, { prefix: 'plain-ns' });
  for (const ns of [tenantA, tenantB, plain]) await createServiceAccount(kc, ns, 'runner');
  dir = mkdtempSync(join(tmpdir(), 'orka-sidecar-test-'));
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'resolver-op',
    // The resolver's memo of opened values outlasts every wait here: an update or a delete it
    // failed to see past would show.
    env: { ORKA_WATCH_NAMESPACES: [tenantA, tenantB, plain].join(','), ORKA_USAGE_FLUSH_PERIOD: '1s', ORKA_RESOLVE_MEMO_TTL: '1h' },
  });
  operators.push(operator);
  await operator.waitForLog(/resolver API and webhooks listening/);
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
  caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, caPem);
  await putSecret(tenantA, 'api-key', canary('a-api-key'));
  await putSecret(tenantA, 'db-password', canary('a-db'));
  await putSecret(tenantB, 'api-key', canary('b-api-key'));
  await Promise.all([waitStored(tenantA, 'api-key'), waitStored(tenantA, 'db-password'), waitStored(tenantB, 'api-key')]);
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('sidecar against the real operator', () => {
  it('gets, renders (nested JSON, several references, other expressions untouched) and redacts', async () => {
    const { client } = await sidecarFor(tenantA);
    const [apiKey, db] = [values[0] as string, values[1] as string];
    expect(await client.get('API_KEY')).toBe(apiKey);
    const out = await client.render({ url: 'https://x/?k={{ secrets.API_KEY }}', headers: { a: 'Bearer {{secrets.API_KEY}}', b: '{{ $json.user }}' }, list: ['{{secrets.DB_PASSWORD}}:{{secrets.API_KEY}}'] });
    expect(out).toEqual({ url: `https://x/?k=${apiKey}`, headers: { a: `Bearer ${apiKey}`, b: '{{ $json.user }}' }, list: [`${db}:${apiKey}`] });
    const redacted = await client.redact(`log: ${apiKey} and ${encodeURIComponent(db)}`);
    expect(redacted).toBe('log: [REDACTED] and [REDACTED]');
  });

  it('forgets a value when the change stream names it: serves the update, then SECRET_NOT_FOUND after the delete', async () => {
    // No time limit is asserted here (timing belongs in make bench): a sidecar that did not forget
    // would serve the cached value for ever, and these waits would run out.
    const first = canary('short');
    await putSecret(tenantA, 'short-lived', first);
    await waitStored(tenantA, 'short-lived');
    const { client } = await sidecarFor(tenantA);
    expect(await client.get('SHORT_LIVED')).toBe(first);
    const next = canary('short-updated');
    await putSecret(tenantA, 'short-lived', next);
    await eventually(async () => ((await client.get('SHORT_LIVED')) === next ? true : undefined), 30_000, 20);
    await custom.deleteNamespacedCustomObject({ ...osec(tenantA), name: 'short-lived' });
    const err = await eventually(async () => {
      try {
        await client.get('SHORT_LIVED');
        return undefined;
      } catch (e) {
        return e as OrkaError;
      }
    }, 30_000, 20);
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect(err.message).toBe('secret SHORT_LIVED could not be found');
  });

  it('never lets tenant B read tenant A, whatever names it asks', async () => {
    const { client } = await sidecarFor(tenantB);
    expect(await client.get('API_KEY')).toBe(values[2]);
    await expect(client.get('DB_PASSWORD')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    const token = readFileSync(await tokenFile(tenantB, 'runner'), 'utf8');
    const direct = await resolveDirect(token, ['API_KEY', 'DB_PASSWORD', 'SHORT_LIVED']);
    expect(direct.status).toBe(200);
    expect(direct.body.values).toEqual({ API_KEY: values[2] });
    expect(direct.body.missing).toEqual(['DB_PASSWORD', 'SHORT_LIVED']);
  });

  it('refuses a token for another audience, an expired one, a forged one, and a namespace that is not a tenant', async () => {
    const otherAudience = readFileSync(await tokenFile(tenantA, 'runner', 'something-else'), 'utf8');
    const saKey = readFileSync(cp.serviceAccountKeyPath, 'utf8');
    const expired = signToken(saKey, tenantA, 'runner', Math.floor(Date.now() / 1000) - 3600);
    // Well-formed and current, but signed by a key the apiserver does not know.
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forged = signToken(otherKey, tenantA, 'runner', Math.floor(Date.now() / 1000) + 3600);
    for (const token of [otherAudience, expired, forged, 'not-a-jwt']) {
      const res = await resolveDirect(token, ['API_KEY']);
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe('UNAUTHENTICATED');
      expect(res.body.values).toBeUndefined();
    }
    const plainToken = readFileSync(await tokenFile(plain, 'runner'), 'utf8');
    const res = await resolveDirect(plainToken, ['API_KEY']);
    expect(res.status).toBe(403);
    expect(res.body.error?.code).toBe('FORBIDDEN');
  });

  it('records usage in status, in batches', async () => {
    // Its own secret, resolved here: the count does not depend on what earlier tests resolved.
    const value = canary('usage');
    await putSecret(tenantA, 'usage-probe', value);
    await waitStored(tenantA, 'usage-probe');
    const token = readFileSync(await tokenFile(tenantA, 'runner'), 'utf8');
    for (let i = 0; i < 3; i++) expect((await resolveDirect(token, ['USAGE_PROBE'])).body.values).toEqual({ USAGE_PROBE: value });
    const o = await eventually(async () => {
      const x = (await custom.getNamespacedCustomObject({ ...osec(tenantA), name: 'usage-probe' })) as OrkaSecret;
      return x.status?.usage?.resolveCount === 3 ? x : undefined;
    }, 30_000);
    expect(Date.parse(o.status?.usage?.lastResolvedAt ?? '')).not.toBeNaN();
  });

  it('while the operator is down: serves what it holds for ORKA_CACHE_STALE_AFTER, then UPSTREAM_UNAVAILABLE', async () => {
    // 14 s: long enough that the value is still served right after the operator is gone, even on
    // a loaded machine; the end of the window is waited for, not slept through.
    const { client } = await sidecarFor(tenantA, { ORKA_CACHE_STALE_AFTER: '14s' });
    const fetchedBefore = Date.now();
    await client.get('API_KEY');
    await operator.stop('SIGKILL');
    expect(await client.get('API_KEY')).toBe(values[0]);
    await expect(client.get('DB_PASSWORD')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
    await eventually(async () => client.get('API_KEY').then(() => undefined, (e: OrkaError) => (e.code === 'UPSTREAM_UNAVAILABLE' ? true : undefined)), 40_000, 50);
    // Not before the window ended (a lower bound cannot flake: load only makes it later). The
    // window counts from when the answering replica's view was current (its Age header), which a
    // healthy replica confirms at least every WATCH_TIMEOUT_SECONDS + 1 s (docs/failure-modes.md).
    expect(Date.now() - fetchedBefore).toBeGreaterThanOrEqual(14_000 - (WATCH_TIMEOUT_SECONDS + 2) * 1000);
    operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'resolver-op-2', env: { ORKA_WATCH_NAMESPACES: [tenantA, tenantB, plain].join(',') } });
    operators.push(operator);
    await operator.waitForLog(/resolver API and webhooks listening/);
    // The sidecar was started against the old port; a new one reaches the restarted operator.
    const again = await sidecarFor(tenantA);
    expect(await again.client.get('API_KEY')).toBe(values[0]);
  });
});

describe('no disk, no logs', () => {
  it('writes, creates, renames and removes no file while serving (strace)', async () => {
    const trace = join(dir, 'strace.out');
    const { sidecar, client } = await sidecarFor(tenantA, {}, trace);
    for (let i = 0; i < 20; i++) {
      await client.get('API_KEY');
      await client.render({ a: '{{secrets.DB_PASSWORD}}' });
      await client.redact(`x ${values[0]}`);
    }
    await expect(client.get('NOPE')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    expect(await sidecar.stop()).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    expect(lines.filter((l) => /openat\(/.test(l)).length).toBeGreaterThan(5); // the trace did record file activity
    const writes = lines.filter((l) => /open(at)?\(.*O_(WRONLY|RDWR|CREAT|TRUNC)/.test(l) && !/"\/dev\/(null|tty|urandom|random)"/.test(l));
    const changes = lines.filter((l) => /\b(creat|rename|renameat2?|unlink|unlinkat|rmdir|mkdir|mkdirat|truncate|link|linkat|symlink|symlinkat)\(/.test(l));
    expect(writes).toEqual([]);
    expect(changes).toEqual([]);
  });

  it('logs no canary value in any encoded form, in the sidecars or the operator', () => {
    const logs = [...sidecars.flatMap((s) => s.logs), ...operators.flatMap((o) => o.logs)].join('\n');
    expect(logs).toContain('change stream');
    // Self-check: a value the sidecar was asked to redact in a form it logs would be found.
    expect(findLeaks(`${logs}\n${encodeURIComponent(values[0] as string)}`, planted.all)).toHaveLength(1);
    expect(findLeaks(logs, planted.all)).toEqual([]);
  });

  it('leaves no canary value in etcd, in any encoded form, after the sidecars resolved them all', async () => {
    // Self-check: a control canary in a description is stored (JSON-escaped) and must be found.
    const control = canaries('CONTROL').make('description');
    await custom.createNamespacedCustomObject({ ...osec(tenantA), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'control-canary' }, spec: { description: control } } });
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(planted.all.length).toBeGreaterThan(5);
    expect(findLeaks(etcd, planted.all)).toEqual([]);
  });
});
