/**
 * A replica going away during a rollout, as the e2e upgrade saw it: the Service (here a TCP proxy,
 * routed per connection as kube-proxy would) keeps sending new connections to a pod for a moment
 * after it was told to stop, or after it died, until its endpoint is removed.
 * - The sidecar: one refused or reset connection is not "the operator is unavailable"; it asks
 *   again on a new connection (which the Service sends elsewhere) within its timeout.
 * - The operator: told to stop, it steps down at once (not ready, lease released) but keeps
 *   answering resolves for its drain period, telling each client to close the connection, and
 *   only then closes its servers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, findLeaks, osecCoords } from '../env/canary.js';
import { expectControlOnly, expectEtcdControlOnly } from '../env/leak-scan.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';
import { startTcpProxy, type TcpProxy } from '../env/tcp-proxy.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
let dir: string;
let replicaA: OperatorProcess;
let replicaB: OperatorProcess;
let sidecar: SidecarProcess;
let router: TcpProxy;
let client: OrkaSecretsClient;
const planted = canaries();
const values = { FIRST: planted.make('first'), SECOND: planted.make('second') };
/** Where the Service sends the next new connection: what the tests change as endpoints come and go. */
let route: () => number;

async function put(name: string, value: string): Promise<void> {
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, name, value);
  const body = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: name.toLowerCase() }, spec: { sealedValue } };
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body });
  await waitForReady(kc, tenant, name.toLowerCase(), 'Stored');
}

async function answer(name: string): Promise<string> {
  try {
    return await client.get(name);
  } catch (err) {
    return `error:${(err as { code?: string }).code ?? (err as Error).message}`;
  }
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-roll' });
  tenant = await createNamespace(kc, { prefix: 'roll', tenant: 'roll' });
  await createServiceAccount(kc, tenant, 'runner');
  dir = mkdtempSync(join(tmpdir(), 'orka-rollout-'));
  const env = { ORKA_WATCH_NAMESPACES: tenant, ORKA_SHUTDOWN_DRAIN: '8s' };
  replicaA = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'roll-a', env });
  await replicaA.waitForLog(/resolver API and webhooks listening/);
  replicaB = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'roll-b', env });
  await replicaB.waitForLog(/resolver API and webhooks listening/, 90_000);
  for (const [name, value] of Object.entries(values)) await put(name, value);

  // The sidecar's first connection (its change stream) goes to B, its resolves to A.
  route = () => replicaA.resolverPort;
  router = await startTcpProxy({ target: (n) => (n === 0 ? replicaB.resolverPort : route()) });
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' })).token);
  sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${router.port}`, tokenFile, caFile });
  client = new OrkaSecretsClient({ baseUrl: sidecar.url });
  await replicaB.waitForLog(/change stream opened/);
}, 180_000);

afterAll(async () => {
  await sidecar?.stop('SIGKILL');
  await Promise.all([replicaA?.stop('SIGKILL'), replicaB?.stop('SIGKILL')]);
  await router?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a replica going away while the Service still routes to it', () => {
  it('the sidecar asks again on a new connection instead of failing the request', async () => {
    expect(await answer('FIRST')).toBe(values.FIRST);
    const before = router.connections;
    // A dies at once (no drain). Its endpoint is still listed: the next new connection goes to
    // its port, where nothing listens any more; only the one after that goes to B.
    await replicaA.stop('SIGKILL');
    let next = 0;
    route = () => (next++ === 0 ? replicaA.resolverPort : replicaB.resolverPort);
    // SECOND was never asked for: the sidecar has to ask the operator.
    expect(await answer('SECOND')).toBe(values.SECOND);
    // Proof the dead endpoint was met: one connection refused, one to B.
    expect(router.connections - before).toBeGreaterThanOrEqual(2);
    expect(next).toBeGreaterThanOrEqual(2);
  });

  it('the operator told to stop steps down at once but answers resolves until its drain ends, then exits 0', async () => {
    const stopping = replicaB;
    const leases = kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await leases.readNamespacedLease({ name: 'orka-secrets-operator', namespace: opNamespace })).spec?.holderIdentity ?? '';
    // B leads (A, killed, held the lease at most until it expired).
    await eventually(async () => ((await holder()) === stopping.identity ? true : undefined), 30_000, 200);
    // Fetched before the stop, so the drain is spent on what it is for: a resolve's own review of the token.
    const credentials = await podCredentials(kc, opNamespace, tenant);
    const signalled = Date.now();
    const exited = stopping.stop('SIGTERM');
    // Not ready at once, with the reason.
    const readyz = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${stopping.port}/readyz`);
      return r.status === 503 ? await r.text() : undefined;
    }, 5_000, 50);
    expect(readyz).toMatch(/^\[-\]shutting-down: /m);
    // The lease is released before the replica stops answering.
    await eventually(async () => ((await holder()) === '' ? true : undefined), 5_000, 100);
    // Still answering a new connection, and telling the client not to keep it.
    const r = await resolveExchange(credentials, stopping, ['FIRST', 'SECOND']);
    expect(r.status).toBe(200);
    expect(r.body.values).toEqual(values);
    expect(r.headers.connection).toBe('close');
    expect(stopping.proc.exitCode).toBeNull();
    expect(await exited).toBe(0);
    // It closed only once the drain was over (8 s from the signal), not when it had stepped down.
    expect(stopping.logs.some((l) => l.includes('drain over'))).toBe(true);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(8000);
  });
});

describe('leak scan', () => {
  it('finds no planted value in any log of the replicas and the sidecar, in Events, OrkaSecrets or etcd, in any encoded form', async () => {
    // Every value this file planted; none went into a Kubernetes Secret of its own (no valueFrom),
    // so none may be anywhere in etcd: all are searched there too.
    expect(planted.all).toHaveLength(2);
    const control = canaries('CONTROL').make('description');

    // Logs of both replicas (one killed, one stopped: their lines are kept) and of the sidecar.
    const logs = [replicaA, replicaB, sidecar].flatMap((p) => p.logs).join('\n');
    expect(logs).toContain('drain over');
    expect(logs).toContain('value stored');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control]), 'self-check: the log search sees a JSON-escaped value').toHaveLength(1);
    expect(findLeaks(logs, planted.all), 'in the logs').toEqual([]);

    // Events of both namespaces.
    const core = kc.makeApiClient(CoreV1Api);
    const events = JSON.stringify((await Promise.all([tenant, opNamespace].map(async (namespace) => (await core.listNamespacedEvent({ namespace })).items))).flat());
    expect(findLeaks(`${events}\n${JSON.stringify({ message: control })}`, [control]), 'self-check: the event search sees a JSON-escaped value').toHaveLength(1);
    expect(findLeaks(events, planted.all), 'in events').toEqual([]);

    // OrkaSecrets, statuses included. Self-check: a control canary in a description (not a value)
    // is stored JSON-escaped (Go escapes `"` and `&`) and must be found, here and in etcd. (Both
    // replicas are stopped by now: nothing reconciles it, and nothing has to.)
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'control-canary' }, spec: { description: control } } });
    const objects = ((await custom.listNamespacedCustomObject(osecCoords(tenant))) as { items: Array<{ status?: { conditions?: Array<{ reason?: string }> } }> }).items;
    expect(objects.filter((o) => o.status?.conditions?.some((c) => c.reason === 'Stored'))).toHaveLength(2);
    expectControlOnly('the OrkaSecrets and their statuses', JSON.stringify(objects), planted.all, control);
    expectEtcdControlOnly(cp.etcdUrl, planted.all, control);
  }, 60_000);
});
