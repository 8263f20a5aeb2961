/**
 * Deletion gone on every replica whatever the order of events, and Ready meaning resolvable
 * (view revisions, src/core/revision.ts), with real operator replicas and the sidecar's bundle:
 *   - a replica held behind (its connection to the apiserver frozen) answers a sidecar whose
 *     stream never saw a deletion: the deleted value is never served;
 *   - a secret deleted while the operator was down is SECRET_NOT_FOUND once it is back, not
 *     UPSTREAM_UNAVAILABLE for as long as the sidecar remembers the name;
 *   - a resolve right after an OrkaSecret turns Ready is answered with its value by every replica,
 *     and a replica whose storage cache is behind its OrkaSecret cache waits for it (staged).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { createLogger } from '../../src/core/logger.js';
import { DataKeyStore } from '../../src/operator/keys/datakeys.js';
import { KeyRingStore } from '../../src/operator/keys/ring.js';
import { ClusterCache } from '../../src/operator/kube/cache.js';
import type { Watched } from '../../src/operator/kube/informers.js';
import { Resolver } from '../../src/operator/resolver/resolver.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, osecCoords } from '../env/canary.js';
import { hostPort, kubeconfigThrough, startFreezingProxy, type FreezingProxy } from '../env/freezer.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';
import { startTcpProxy, type TcpProxy } from '../env/tcp-proxy.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let custom: CustomObjectsApi;
let dir: string;
const operators: OperatorProcess[] = [];
const sidecars: SidecarProcess[] = [];
const proxies: Array<TcpProxy | FreezingProxy> = [];
const planted = canaries();

/** An operator installation: its namespace, a tenant with a `runner` service account, and files a sidecar of that tenant uses. */
async function install(prefix: string): Promise<{ opNamespace: string; tenant: string; tokenFile: string; caFile: string }> {
  const opNamespace = await createNamespace(kc, { prefix: `orka-${prefix}` });
  const tenant = await createNamespace(kc, { prefix, tenant: prefix });
  await createServiceAccount(kc, tenant, 'runner');
  const tokenFile = join(dir, `${prefix}.token`);
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
  return { opNamespace, tenant, tokenFile, caFile: join(dir, `${prefix}.ca.crt`) };
}

/** Writes the operator's CA (once the first replica has made it) where the sidecar reads it. */
async function writeCa(opNamespace: string, caFile: string): Promise<void> {
  const tls = await eventually(() => kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace }));
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
}

async function operator(args: Parameters<typeof startOperator>[0]): Promise<OperatorProcess> {
  const op = await startOperator(args);
  operators.push(op);
  await op.waitForLog(/resolver API and webhooks listening/, 90_000);
  return op;
}

/** The first replica of an installation, watching its tenant, once it leads. */
async function leader(opNamespace: string, tenant: string, identity: string): Promise<OperatorProcess> {
  const op = await operator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: tenant } });
  await op.waitForLog(/became leader/, 30_000);
  return op;
}

async function put(opNamespace: string, tenant: string, name: string, value: string): Promise<void> {
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, name.toUpperCase().replaceAll('-', '_'), value);
  await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
}

/** What a sidecar answers for a name now: the value, or the error code. */
async function answer(client: OrkaSecretsClient, name: string): Promise<string> {
  try {
    return await client.get(name);
  } catch (err) {
    return `error:${(err as { code?: string }).code ?? (err as Error).message}`;
  }
}

async function streamUp(sidecar: SidecarProcess): Promise<void> {
  await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined, 60_000);
}

async function metric(sidecar: SidecarProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${sidecar.metricsPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
}

async function storageGone(tenant: string, name: string): Promise<true | undefined> {
  try {
    await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: `orkasecret-${name}`, namespace: tenant });
    return undefined;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true;
    throw err;
  }
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
  dir = mkdtempSync(join(tmpdir(), 'orka-view-'));
});

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  for (const p of proxies) if ('thaw' in p) p.thaw();
  await Promise.all(operators.map((o) => o.stop('SIGKILL')));
  for (const p of proxies) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a replica's view revision", () => {
  it('is the revision of the list at first, then of each change its caches apply, a deletion included', { timeout: 120_000 }, async () => {
    const tenant = await createNamespace(kc, { prefix: 'view', tenant: 'view' });
    const opNamespace = await createNamespace(kc, { prefix: 'orka-view' });
    const cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [tenant] }, createLogger({ name: 'test', level: 'silent' }));
    try {
      await cache.synced;
      const listed = cache.viewRevision();
      expect(listed).toBeGreaterThan(0);
      const created = (await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'counted' }, spec: { description: 'x' } } })) as OrkaSecret;
      const revision = Number(created.metadata.resourceVersion);
      expect(revision).toBeGreaterThan(listed);
      await eventually(() => (cache.orkaSecrets.get('counted', tenant) !== undefined ? true : undefined));
      expect(cache.viewRevision()).toBe(revision);
      await custom.deleteNamespacedCustomObject({ ...osecCoords(tenant), name: 'counted' });
      await eventually(() => (cache.orkaSecrets.get('counted', tenant) === undefined ? true : undefined));
      expect(cache.viewRevision()).toBeGreaterThan(revision);
    } finally {
      await cache.stop();
    }
  });
});

describe('a replica held behind', () => {
  it('never serves a deleted secret to a sidecar that never saw the deletion, its resolve landing on that replica', { timeout: 240_000 }, async () => {
    const { opNamespace, tenant, tokenFile, caFile } = await install('held');
    const current = await leader(opNamespace, tenant, 'held-a');
    // Replica B reaches the apiserver through a proxy that can freeze; it keeps answering from
    // its frozen view for 10 minutes (its freshness bound) instead of 15 s: a replica held behind.
    const freezer = await startFreezingProxy(hostPort(cp.server));
    proxies.push(freezer);
    const behind = await operator({ kubeconfigPath: kubeconfigThrough(cp.kubeconfigPath, freezer, join(dir, 'held-b.kubeconfig')), namespace: opNamespace, identity: 'held-b', env: { ORKA_WATCH_NAMESPACES: tenant, ORKA_MAX_STALENESS: '600s' } });
    await writeCa(opNamespace, caFile);

    const value = planted.make('held');
    await put(opNamespace, tenant, 'doomed', value);
    await waitForReady(kc, tenant, 'doomed', 'Stored');
    // Both replicas serve it (B's review of this pod's token is cached from here on).
    const credentials = { token: readFileSync(tokenFile, 'utf8'), ca: readFileSync(caFile, 'utf8') };
    for (const r of [current, behind]) await eventually(async () => ((await resolveExchange(credentials, r, ['DOOMED'])).body.values?.DOOMED === value ? true : undefined), 30_000);

    freezer.freeze();
    await custom.deleteNamespacedCustomObject({ ...osecCoords(tenant), name: 'doomed' });
    await eventually(async () => ((await resolveExchange(credentials, current, ['DOOMED'])).body.missing?.includes('DOOMED') ? true : undefined), 30_000);
    // B still has it.
    expect((await resolveExchange(credentials, behind, ['DOOMED'])).body.values?.DOOMED).toBe(value);

    // A sidecar started after the delete: its stream reaches A (the first connection); its
    // resolves reach B, then A, then B... (each connection the next one: a Service's choice).
    const router = await startTcpProxy({ target: (n) => (n % 2 === 0 ? current.resolverPort : behind.resolverPort) });
    proxies.push(router);
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${router.port}`, tokenFile, caFile });
    sidecars.push(sidecar);
    await streamUp(sidecar);
    const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) seen.push(await answer(client, 'DOOMED'));
    const label = (s: string) => (s === value ? 'VALUE' : s);
    expect(seen.map(label).filter((s) => s !== 'error:SECRET_NOT_FOUND'), `answers: ${seen.map(label).join(', ')}`).toEqual([]);
    // B answered, from its older view, and was asked again.
    expect(router.connections).toBeGreaterThan(2);
    expect(await metric(sidecar, 'orka_sidecar_stale_answers_total')).toBeGreaterThan(0);
    freezer.thaw();
  });
});

describe('a secret deleted while the operator was down', () => {
  it('is SECRET_NOT_FOUND once the operator is back and current, not UPSTREAM_UNAVAILABLE', { timeout: 240_000 }, async () => {
    const { opNamespace, tenant, tokenFile, caFile } = await install('gone');
    const first = await leader(opNamespace, tenant, 'gone-a');
    await writeCa(opNamespace, caFile);
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${first.resolverPort}`, tokenFile, caFile });
    sidecars.push(sidecar);
    await streamUp(sidecar);
    const client = new OrkaSecretsClient({ baseUrl: sidecar.url });

    // Created while the sidecar's stream is up: it sees the change, and caches the value.
    const value = planted.make('gone');
    await put(opNamespace, tenant, 'vanished', value);
    await waitForReady(kc, tenant, 'vanished', 'Stored');
    await eventually(async () => ((await answer(client, 'VANISHED')) === value ? true : undefined), 30_000);

    await first.stop('SIGKILL');
    await custom.deleteNamespacedCustomObject({ ...osecCoords(tenant), name: 'vanished' });
    const back = await operator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'gone-a', env: { ORKA_WATCH_NAMESPACES: tenant }, ports: { port: first.port, resolverPort: first.resolverPort } });
    await eventually(async () => ((await fetch(`http://127.0.0.1:${back.port}/readyz`)).status === 200 ? true : undefined), 60_000);
    // The new leader removes the storage Secret of the deleted OrkaSecret.
    await eventually(() => storageGone(tenant, 'vanished'), 60_000);
    await streamUp(sidecar);

    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push(await answer(client, 'VANISHED'));
    expect(seen.map((s) => (s === value ? 'VALUE' : s))).toEqual(Array(5).fill('error:SECRET_NOT_FOUND'));
  });
});

describe('Ready means resolvable', () => {
  it('a resolve right after an OrkaSecret turns Ready gets its value from every replica, many times', { timeout: 300_000 }, async () => {
    const { opNamespace, tenant } = await install('ready');
    const env = { ORKA_WATCH_NAMESPACES: tenant };
    const replicas = [await operator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'ready-a', env })];
    replicas.push(await operator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'ready-b', env }));
    await eventually(async () => ((await Promise.all(replicas.map(async (r) => (await fetch(`http://127.0.0.1:${r.port}/readyz`)).status))).every((s) => s === 200) ? true : undefined), 60_000);
    const credentials = await podCredentials(kc, opNamespace, tenant);
    // Each turn to Ready, as a watch sees it, sends both replicas a resolve at once.
    const outcomes: Array<Promise<string>> = [];
    const readySeen = new Set<string>();
    const watch = await new Watch(kc).watch(
      `/apis/orka.io/v1alpha1/namespaces/${tenant}/orkasecrets`,
      {},
      (_phase, o: OrkaSecret) => {
        const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status !== 'True' || readySeen.has(o.metadata.name)) return;
        readySeen.add(o.metadata.name);
        const name = o.metadata.name.toUpperCase().replaceAll('-', '_');
        for (const r of replicas) {
          outcomes.push(resolveExchange(credentials, r, [name]).then(({ status, body }) => (status === 200 && body.values?.[name] === `value-of-${o.metadata.name}` ? 'ok' : `${r.identity} ${name}: ${status} ${JSON.stringify(body.missing ?? body)}`)));
        }
      },
      () => undefined,
    );
    try {
      const COUNT = 30;
      for (let i = 0; i < COUNT; i++) await put(opNamespace, tenant, `fresh-${i}`, `value-of-fresh-${i}`);
      await eventually(() => (readySeen.size === COUNT ? true : undefined), 120_000);
      const results = await Promise.all(outcomes);
      expect(results.filter((r) => r !== 'ok')).toEqual([]);
      expect(results).toHaveLength(COUNT * 2);
    } finally {
      watch.abort();
    }
  });

  it('a replica whose storage cache is behind its OrkaSecret cache waits for it: the value, not missing', { timeout: 180_000 }, async () => {
    // The race of the case above, staged: a replica's caches (real informers on the real
    // apiserver), its storage cache held back on cue for one name, as a slower watch would be.
    // A real operator process stores the value and reports it Ready.
    const { opNamespace, tenant } = await install('lagging');
    await operator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'lagging-a', env: { ORKA_WATCH_NAMESPACES: tenant } });
    const log = createLogger({ name: 'test', level: 'silent' });
    const cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [tenant] }, log);
    try {
      await cache.synced;
      const held = new Set<string>(['orkasecret-late']);
      const handlers: Array<(s: V1Secret) => void> = [];
      // The real storage cache (its other members through the prototype), but for this name.
      const storage: Watched<V1Secret> = Object.assign(Object.create(cache.storage) as Watched<V1Secret>, {
        get: (name: string, namespace?: string) => (held.has(name) ? undefined : cache.storage.get(name, namespace)),
        on: (verb: 'add' | 'update' | 'delete', cb: (s: V1Secret) => void) => {
          if (verb !== 'delete') handlers.push(cb);
          cache.storage.on(verb, (s) => (held.has(s.metadata?.name ?? '') ? undefined : cb(s)));
        },
      });
      const lagging = Object.assign(Object.create(cache) as ClusterCache, { storage });
      const ring = new KeyRingStore(kc, cache.own, { namespace: opNamespace, log });
      const resolver = new Resolver(lagging, new DataKeyStore(kc, cache.own, ring, { namespace: opNamespace, log }), log);

      const readyHere = new Promise<void>((resolve) =>
        cache.orkaSecrets.on('update', (o) => {
          if (o.metadata.name === 'late' && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) resolve();
        }),
      );
      await put(opNamespace, tenant, 'late', 'the-late-value');
      await readyHere;
      // Ready in this replica's OrkaSecret cache; its storage cache has not brought the value yet.
      const answer = resolver.resolve(tenant, ['LATE']);
      await eventually(() => (cache.storage.get('orkasecret-late', tenant) !== undefined ? true : undefined));
      setTimeout(() => {
        held.clear();
        const arrived = cache.storage.get('orkasecret-late', tenant) as V1Secret;
        for (const cb of handlers) cb(arrived);
      }, 300);
      expect(await answer).toMatchObject({ values: { LATE: 'the-late-value' }, missing: [] });
    } finally {
      await cache.stop();
    }
  });
});
