/**
 * Faults where a replica's view of the cluster is not current and it must know it: a replica
 * whose traffic to the apiserver freezes (a TCP proxy that accepts and never answers, between that
 * replica alone and the apiserver). Real processes, the real apiserver.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace as createNamespaceIn, createServiceAccount, installCrd, podBoundToken, uniqueName, waitForReady } from '../env/kube.js';
import { hostPort, kubeconfigThrough, startFreezingProxy, type FreezingProxy } from '../env/freezer.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let dir: string;
const started: OperatorProcess[] = [];
const proxies: FreezingProxy[] = [];
const sidecars: SidecarProcess[] = [];
const planted = canaries();
const canary = planted.make;
/** Every namespace this file made: where the leak scan looks for OrkaSecrets and Events. */
const namespaces: string[] = [];
const createNamespace = async (...args: Parameters<typeof createNamespaceIn>) => {
  const name = await createNamespaceIn(...args);
  namespaces.push(name);
  return name;
};

/** The time of the first log line from index `from` on matching `pattern` (pino's ISO `time`). */
function logTime(p: OperatorProcess, pattern: RegExp, from = 0): number | undefined {
  const line = p.logs.slice(from).find((l) => pattern.test(l));
  return line === undefined ? undefined : Date.parse((JSON.parse(line) as { time: string }).time);
}

async function leaseHolder(namespace: string): Promise<string | undefined> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'orka-secrets-operator', namespace });
  return lease.spec?.holderIdentity || undefined;
}

async function isLeaderMetric(p: OperatorProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
  return Number(/^orka_operator_is_leader (\d+)/m.exec(text)?.[1]);
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  dir = mkdtempSync(join(tmpdir(), 'orka-faults-'));
});

afterAll(async () => {
  if (process.env.FAULTS_DEBUG) for (const p of started) writeFileSync(`/tmp/faults-${p.identity}.log`, p.logs.join('\n'));
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await Promise.all(proxies.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Two replicas on a fresh operator namespace: `cut` reaches the apiserver through a freezing proxy, `direct` does not. */
async function twoReplicas(env: Record<string, string> = {}): Promise<{ namespace: string; proxy: FreezingProxy; cut: OperatorProcess; direct: OperatorProcess; tenant: string }> {
  const namespace = await createNamespace(kc, { prefix: 'orka-faults' });
  const tenant = await createNamespace(kc, { prefix: 'faults-tenant', tenant: 'faults' });
  const proxy = await startFreezingProxy(hostPort(cp.server));
  proxies.push(proxy);
  const kubeconfigPath = kubeconfigThrough(cp.kubeconfigPath, proxy, join(dir, `${namespace}.kubeconfig`));
  const common = { namespace, env: { ORKA_WATCH_NAMESPACES: tenant, ...env } };
  // The cut-off one first, so it is the leader when the network freezes.
  const cut = await startOperator({ ...common, kubeconfigPath, identity: 'cut-off' });
  started.push(cut);
  // Settled: the first leader's key generation is CPU-bound and may hold up its event loop.
  await cut.waitForLog(/resolver API and webhooks listening/, 60_000);
  const direct = await startOperator({ ...common, kubeconfigPath: cp.kubeconfigPath, identity: 'direct' });
  started.push(direct);
  await eventually(async () => ((await fetch(`http://127.0.0.1:${direct.port}/readyz`)).status === 200 ? true : undefined), 30_000);
  return { namespace, proxy, cut, direct, tenant };
}

describe('a replica whose traffic to the apiserver freezes', () => {
  it('steps down as leader on its renew deadline, before anyone else leads: never two leaders', async () => {
    const { namespace, proxy, cut, direct } = await twoReplicas();
    await eventually(async () => ((await leaseHolder(namespace)) === 'cut-off' && (await isLeaderMetric(cut)) === 1 ? true : undefined));
    const from = cut.logs.length;
    const frozenAt = Date.now();
    proxy.freeze();
    // The other replica takes over once the lease (4 s) has gone unrenewed.
    await direct.waitForLog(/became leader/, 30_000);
    const tookOver = logTime(direct, /became leader/) as number;
    const steppedDown = logTime(cut, /stopped leading/, from);
    expect(steppedDown, 'the cut-off leader never stepped down').toBeDefined();
    // Before the other took over: never two leaders. How soon after the freeze (the renew
    // deadline, 3 s) is measured by test/bench/bounds.ts, not asserted against the clock here.
    expect(steppedDown as number).toBeLessThan(tookOver);
    console.log(`[faults] stepped down ${(steppedDown as number) - frozenAt} ms after the freeze, ${tookOver - (steppedDown as number)} ms before the other took over`);
    expect(cut.logs.slice(from).find((l) => l.includes('stopped leading'))).toContain('"reason":"deadline"');
    expect(await isLeaderMetric(cut)).toBe(0);
    expect(await isLeaderMetric(direct)).toBe(1);

    // When its network heals it comes back as a follower: the lease is the other's.
    proxy.thaw();
    await eventually(async () => ((await leaseHolder(namespace)) === 'direct' && (await isLeaderMetric(cut)) === 0 ? true : undefined));
    expect(cut.logs.slice(from).filter((l) => l.includes('became leader'))).toEqual([]);
  });
});

/** POST /v1/resolve on one replica. */
function resolveOn(p: OperatorProcess, caPem: string, token: string, names: string[]): Promise<{ status: number; values?: Record<string, string>; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: p.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, timeout: 5000, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const body = JSON.parse(text) as { values?: Record<string, string>; error?: { code: string } };
          resolve({ status: res.statusCode ?? 0, ...(body.values ? { values: body.values } : {}), ...(body.error ? { code: body.error.code } : {}) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify({ names }));
  });
}

describe('a replica cut off from the apiserver', () => {
  it('stops serving a deleted value on every path, the cut-off replica too: /readyz fails, streams close, resolves are refused', { timeout: 240_000 }, async () => {
    const { namespace, proxy, cut, direct, tenant } = await twoReplicas();
    const custom = kc.makeApiClient(CustomObjectsApi);
    await createServiceAccount(kc, tenant, 'runner');
    const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner', audience: 'orka-secrets' });
    const tokenFile = join(dir, `${tenant}.token`);
    writeFileSync(tokenFile, token);
    const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace });
    const caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
    const caFile = join(dir, `${tenant}.ca.crt`);
    writeFileSync(caFile, caPem);
    const value = canary('gone-soon');
    const sealedValue = await sealWithPublishedCert(kc, namespace, tenant, 'GONE_SOON', value);
    await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'gone-soon' }, spec: { sealedValue } } });
    await waitForReady(kc, tenant, 'gone-soon', 'Stored');
    // Both replicas know the value; the cut-off one has reviewed this token (cached), so it can
    // still authenticate the sidecars once frozen.
    for (const p of [cut, direct]) await eventually(async () => ((await resolveOn(p, caPem, token, ['GONE_SOON'])).values?.GONE_SOON === value ? true : undefined));
    const sidecarOn = async () => {
      const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${cut.resolverPort}`, tokenFile, caFile });
      sidecars.push(sidecar);
      await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined);
      return new OrkaSecretsClient({ baseUrl: sidecar.url });
    };
    // One sidecar holds the value from before the freeze.
    const before = await sidecarOn();
    expect(await before.get('GONE_SOON')).toBe(value);

    proxy.freeze();
    await custom.deleteNamespacedCustomObject({ ...osecCoords(tenant), name: 'gone-soon' });
    const deletedAt = Date.now();
    // Another connects to the cut-off replica after the freeze and fetches it then.
    const after = await sidecarOn();
    expect(await after.get('GONE_SOON')).toBe(value);

    // Every path, sampled until none has served it for QUIET_MS (each stops on an event: the
    // deletion seen, the replica's view found stale, a sidecar's stale limit), with a ceiling far
    // past the documented bound (30 s); how soon each stops is measured by test/bench/bounds.ts.
    // A path that served again after a quiet spell would show as a late lastServed.
    const QUIET_MS = 10_000;
    const CEILING_MS = 120_000;
    const lastServed: Record<string, number> = {};
    const paths: Record<string, () => Promise<boolean>> = {
      'cut-off replica': async () => (await resolveOn(cut, caPem, token, ['GONE_SOON'])).values?.GONE_SOON === value,
      'healthy replica': async () => (await resolveOn(direct, caPem, token, ['GONE_SOON'])).values?.GONE_SOON === value,
      'sidecar holding it from before': async () => (await before.get('GONE_SOON').catch(() => undefined)) === value,
      'sidecar that fetched it after': async () => (await after.get('GONE_SOON').catch(() => undefined)) === value,
    };
    let readyzFailed: string | undefined;
    const lastAny = () => Math.max(0, ...Object.values(lastServed));
    // A count guard as well as the clock: at most one round per 200 ms of the ceiling.
    for (let round = 0; Date.now() - deletedAt - lastAny() < QUIET_MS; round++) {
      if (round > CEILING_MS / 200 || Date.now() - deletedAt > CEILING_MS) throw new Error(`the deleted value was still served ${CEILING_MS} ms after its deletion: ${JSON.stringify(lastServed)}`);
      for (const [path, served] of Object.entries(paths)) if (await served().catch(() => false)) lastServed[path] = Date.now() - deletedAt;
      const readyz = await fetch(`http://127.0.0.1:${cut.port}/readyz`);
      if (readyz.status === 503) readyzFailed = await readyz.text();
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`[faults] last served after its deletion (ms, per path): ${JSON.stringify(lastServed)}`);
    // The sidecars did serve it after the deletion at first (each held it then): the
    // sampling saw them, so their stop is an event, not the absence of answers.
    expect(Object.keys(lastServed)).toEqual(expect.arrayContaining(['sidecar holding it from before', 'sidecar that fetched it after']));
    // The cut-off replica says why it is out, refuses resolves and change streams.
    expect(readyzFailed).toMatch(/\[-\]caches-current: the oldest cache \([\w ]+\) was current [\d.]+ s ago \(bound 15\.0 s\)/);
    expect(readyzFailed).toMatch(/\[-\]apiserver: the apiserver did not answer within 2 s; last answered ready [\d.]+ s ago/);
    expect(await resolveOn(cut, caPem, token, ['GONE_SOON'])).toMatchObject({ status: 503, code: 'UPSTREAM_UNAVAILABLE' });
    expect(((await (await fetch(`${sidecars.at(-1)?.url}/readyz`)).json()) as { changeStream: string }).changeStream).toBe('down');
    expect(cut.logs.some((l) => l.includes('view of the cluster is stale'))).toBe(true);

    // Healed: it catches up (the deletion arrives), then serves again.
    proxy.thaw();
    await eventually(async () => ((await fetch(`http://127.0.0.1:${cut.port}/readyz`)).status === 200 ? true : undefined), 60_000);
    expect(await resolveOn(cut, caPem, token, ['GONE_SOON'])).toMatchObject({ status: 200, values: {} });
  });
});

describe('a sidecar whose operator restarts', () => {
  it('has its change stream back once the operator answers again after an outage (the delay cap is unit-tested, the time measured by test/bench/bounds.ts)', { timeout: 180_000 }, async () => {
    const namespace = await createNamespace(kc, { prefix: 'orka-reconnect' });
    const tenant = await createNamespace(kc, { prefix: 'reconnect-tenant', tenant: 'reconnect' });
    const common = { kubeconfigPath: cp.kubeconfigPath, namespace, identity: 'restarting', env: { ORKA_WATCH_NAMESPACES: tenant } };
    const first = await startOperator(common);
    started.push(first);
    await first.waitForLog(/resolver API and webhooks listening/, 60_000);
    await createServiceAccount(kc, tenant, 'runner');
    const tokenFile = join(dir, `${tenant}.token`);
    writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner', audience: 'orka-secrets' })).token);
    const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace });
    const caFile = join(dir, `${tenant}.ca.crt`);
    writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString());
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${first.resolverPort}`, tokenFile, caFile });
    sidecars.push(sidecar);
    const stream = async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream;
    await eventually(async () => ((await stream()) === 'up' ? true : undefined));

    await first.stop('SIGKILL');
    await eventually(async () => ((await stream()) === 'down' ? true : undefined));
    // Down for as long as a restart takes (seconds): long enough that a growing backoff would
    // have grown well past a second.
    const second = await startOperator({ ...common, ports: { port: first.port, resolverPort: first.resolverPort } });
    started.push(second);
    const line = await second.waitForLog(/resolver API and webhooks listening/, 60_000);
    const answering = Date.parse((JSON.parse(line) as { time: string }).time);
    await eventually(async () => ((await stream()) === 'up' ? true : undefined), 60_000, 20);
    console.log(`[faults] change stream back ${Date.now() - answering} ms after the operator answered again`);
    // The reconnect delay stays under a second however long the outage (reconnectDelay, unit-tested
    // in test/unit/sidecar/freshness.test.ts); the time to reconnect is measured by test/bench/bounds.ts.
  });
});

describe('leak scan', () => {
  it('finds no planted value in any operator or sidecar log, OrkaSecret, Event or in etcd, in any encoded form', async () => {
    expect(planted.all.length).toBeGreaterThan(0);
    expect(namespaces.length).toBeGreaterThanOrEqual(6);
    // Every value here was sealed (none came from a Kubernetes Secret), so it must exist nowhere in
    // plain form: not even in etcd.
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    // Control canaries, planted where each search must find them: a description (in the
    // OrkaSecrets and, JSON-escaped, in etcd), an Event's message, a log line.
    const control = canaries('CONTROL').make('description');
    const tenant = namespaces.at(-1) as string;
    await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'leak-control' }, spec: { description: control } } });
    await core.createNamespacedEvent({
      namespace: tenant,
      body: { metadata: { name: uniqueName('leak-control') }, involvedObject: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', namespace: tenant, name: 'leak-control' }, reason: 'Control', message: control, type: 'Normal' },
    });

    // The logs of every process this file started, stopped ones included.
    const logs = [...started.flatMap((p) => p.logs), ...sidecars.flatMap((s) => s.logs)].join('\n');
    expect(logs).toContain('"msg":"value stored"');
    expect(logs).toContain('change stream');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control])).toHaveLength(1);
    expect(findLeaks(logs, planted.all), 'in the operator and sidecar logs').toEqual([]);

    // The OrkaSecrets (spec and status) and the Events of every namespace involved.
    const osecs = JSON.stringify(await Promise.all(namespaces.map((namespace) => custom.listNamespacedCustomObject(osecCoords(namespace)))));
    expect(findLeaks(osecs, [control])).toHaveLength(1);
    expect(findLeaks(osecs, planted.all), 'in the OrkaSecrets').toEqual([]);
    const events = JSON.stringify(await Promise.all(namespaces.map(async (namespace) => (await core.listNamespacedEvent({ namespace })).items)));
    expect(findLeaks(events, [control])).toHaveLength(1);
    expect(findLeaks(events, planted.all), 'in the Events').toEqual([]);

    // etcd, everything under /registry: the control is there (in the OrkaSecret JSON-escaped, in
    // the Event as it is).
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(findLeaks(etcd, planted.all), 'in etcd').toEqual([]);
  });
});
