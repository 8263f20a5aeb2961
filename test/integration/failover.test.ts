/**
 * High availability with real processes: two operator replicas, one leader; kill the leader and
 * the other takes over with nothing lost and nothing stored twice; a graceful stop in the middle
 * of a burst of work finishes what is in flight and hands over at once.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { canaries, findLeaks, osecCoords } from '../env/canary.js';
import { expectControlOnly, expectEtcdControlOnly } from '../env/leak-scan.js';
import { adminKubeConfig, createNamespace, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
/** Every replica this file started, to stop them all at the end. */
const started: OperatorProcess[] = [];
const watches: AbortController[] = [];
/** Every installation this file made, for the leak scan at the end. */
const installations: Installation[] = [];
/** Every value this file seals. */
const planted = canaries();

/** Replicas of one operator installation, with their tenant and a count of every value stored. */
interface Installation {
  opNamespace: string;
  tenant: string;
  replicas: OperatorProcess[];
  /** Storage Secret name -> the distinct ciphertexts written to it, by any replica, seen by a watch. */
  stores: Map<string, Set<string>>;
  watchError: () => unknown;
}

/** Starts two replicas (and a watch on the tenant's Secrets, opened before anything is stored). */
async function install(prefix: string, env: Record<string, string> = {}): Promise<Installation> {
  const opNamespace = await createNamespace(kc, { prefix: `orka-${prefix}` });
  const tenant = await createNamespace(kc, { prefix: `${prefix}-tenant`, tenant: prefix });
  const stores = new Map<string, Set<string>>();
  let error: unknown;
  const watch = await new Watch(kc).watch(
    `/api/v1/namespaces/${tenant}/secrets`,
    {},
    (phase, secret: V1Secret) => {
      const name = secret.metadata?.name ?? '';
      const value = secret.data?.value;
      if ((phase === 'ADDED' || phase === 'MODIFIED') && name.startsWith('orkasecret-') && value !== undefined) {
        stores.set(name, (stores.get(name) ?? new Set()).add(value));
      }
    },
    (err: unknown) => {
      error ??= err ?? new Error('the watch of storage Secrets ended early');
    },
  );
  watches.push(watch);
  const replicas: OperatorProcess[] = [];
  for (const identity of ['replica-a', 'replica-b']) {
    const r = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: tenant, ...env } });
    replicas.push(r);
    started.push(r);
  }
  const installation = { opNamespace, tenant, replicas, stores, watchError: () => error };
  installations.push(installation);
  await eventually(() => holder(installation));
  return installation;
}

async function holder(inst: Installation): Promise<string | undefined> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'orka-secrets-operator', namespace: inst.opNamespace });
  return lease.spec?.holderIdentity || undefined;
}

/** The current leader and the other replica. */
async function roles(inst: Installation): Promise<{ lead: OperatorProcess; other: OperatorProcess }> {
  const leader = (await holder(inst)) as string;
  expect(['replica-a', 'replica-b']).toContain(leader);
  return { lead: inst.replicas.find((r) => r.identity === leader) as OperatorProcess, other: inst.replicas.find((r) => r.identity !== leader) as OperatorProcess };
}

async function createMany(inst: Installation, prefix: string, count: number): Promise<string[]> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const name of names) {
    const secretName = name.toUpperCase().replaceAll('-', '_');
    const sealedValue = await sealWithPublishedCert(kc, inst.opNamespace, inst.tenant, secretName, planted.make(name));
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: inst.tenant, plural: 'orkasecrets', body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
  }
  return names;
}

/**
 * Waits until every name is stored, then checks each was stored exactly once: one ciphertext
 * ever written to its storage Secret, by whichever replica (a second write of the same value
 * would keep version 1 but carry a new ciphertext: a fresh nonce every time).
 */
async function expectStoredOnce(inst: Installation, names: string[]): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const list = await eventually(async () => {
    const l = (await custom.listNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: inst.tenant, plural: 'orkasecrets' })) as { items: OrkaSecret[] };
    const stored = l.items.filter((o) => names.includes(o.metadata.name) && o.status?.conditions?.[0]?.reason === 'Stored');
    return stored.length === names.length ? stored : undefined;
  }, 60_000);
  for (const o of list) expect(o.status?.version, o.metadata.name).toBe(1);
  // Writes still in flight would show here: wait until the watch has seen every storage Secret.
  await eventually(() => (names.every((n) => inst.stores.has(`orkasecret-${n}`)) ? true : undefined));
  expect(inst.watchError()).toBeUndefined();
  const counts = Object.fromEntries(names.map((n) => [n, inst.stores.get(`orkasecret-${n}`)?.size]));
  expect(counts).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
  // Nothing here is deleted: a replica that deleted a value (its cache behind, the OrkaSecret not
  // yet in it) would have stored it again, and that second store may not have happened yet.
  expect(started.flatMap((r) => r.logs.filter((l) => l.includes('storage deleted')))).toEqual([]);
}

beforeAll(() => {
  kc = adminKubeConfig(cp);
});

afterAll(async () => {
  for (const w of watches) w.abort();
  await Promise.all(started.map((r) => r.stop('SIGKILL')));
});

describe('two replicas', () => {
  // The first two tests are one story on one installation, in order: elect, then kill the leader.
  let ha: Installation;

  it('elect exactly one leader, which reconciles', async () => {
    ha = await install('ha');
    const { lead, other } = await roles(ha);
    await lead.waitForLog(/became leader/);
    await eventually(async () => (await fetch(`http://127.0.0.1:${other.port}/readyz`)).status === 200 || undefined);
    const names = await createMany(ha, 'first', 5);
    await expectStoredOnce(ha, names);
    expect(other.logs.some((l) => l.includes('became leader'))).toBe(false);
    expect(other.logs.some((l) => l.includes('value stored'))).toBe(false);
  });

  it('survive the leader being killed: the other takes over, nothing lost, nothing stored twice', async () => {
    const { lead, other } = await roles(ha);
    await lead.stop('SIGKILL');
    // Created while nobody leads: the lease must expire first (4 s in these tests).
    const names = await createMany(ha, 'during-failover', 5);
    await other.waitForLog(/became leader/, 30_000);
    expect(await holder(ha)).toBe(other.identity);
    await expectStoredOnce(ha, names);
    // The killed one comes back as a follower.
    const back = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: ha.opNamespace, identity: lead.identity, env: { ORKA_WATCH_NAMESPACES: ha.tenant } });
    started.push(back);
    ha.replicas[ha.replicas.indexOf(lead)] = back;
    await eventually(async () => (await fetch(`http://127.0.0.1:${back.port}/readyz`)).status === 200 || undefined);
    expect(await holder(ha)).toBe(other.identity);
    // Everything stored before the failover was stored once too, whoever reconciled it since.
    await expectStoredOnce(ha, [...names, ...Array.from({ length: 5 }, (_, i) => `first-${i}`)]);
  });

  it('hand over at once on a graceful stop in the middle of work, losing nothing', async () => {
    // Its own installation, with a lease far longer than this test waits: a successor that had to
    // wait for the lease to expire, instead of being handed it, would run out of time here.
    const inst = await install('handover', { ORKA_LEASE_DURATION: '600s', ORKA_LEASE_RENEW_DEADLINE: '500s' });
    const { lead, other } = await roles(inst);
    await lead.waitForLog(/became leader/);
    const names = await createMany(inst, 'mid-flight', 15);
    const code = await lead.stop('SIGTERM');
    expect(code).toBe(0);
    expect(lead.logs.some((l) => l.includes('released the lease'))).toBe(true);
    await other.waitForLog(/became leader/, 60_000);
    expect(await holder(inst)).toBe(other.identity);
    await expectStoredOnce(inst, names);
  });
});

describe('leak scan', () => {
  it('finds no planted value in any log of any replica, in Events, OrkaSecrets or etcd, in any encoded form', async () => {
    // Every value this file sealed; none went into a Kubernetes Secret of its own (no valueFrom),
    // so none may be anywhere in etcd: all are searched there too.
    expect(planted.all).toHaveLength(25);
    expect(installations).toHaveLength(2);
    const control = canaries('CONTROL').make('description');

    // Logs of every replica started, the killed and the stopped ones included (5: 2 + 1 back + 2).
    expect(started).toHaveLength(5);
    const logs = started.flatMap((r) => r.logs).join('\n');
    expect(logs).toContain('value stored');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control]), 'self-check: the log search sees a JSON-escaped value').toHaveLength(1);
    expect(findLeaks(logs, planted.all), 'in the logs').toEqual([]);

    // Events of every namespace involved.
    const core = kc.makeApiClient(CoreV1Api);
    const namespaces = installations.flatMap((i) => [i.tenant, i.opNamespace]);
    const events = JSON.stringify((await Promise.all(namespaces.map(async (namespace) => (await core.listNamespacedEvent({ namespace })).items))).flat());
    expect(findLeaks(`${events}\n${JSON.stringify({ message: control })}`, [control]), 'self-check: the event search sees a JSON-escaped value').toHaveLength(1);
    expect(findLeaks(events, planted.all), 'in events').toEqual([]);

    // OrkaSecrets of both tenants, statuses included. Self-check: a control canary in a
    // description (not a value) is stored JSON-escaped (Go escapes `"` and `&`) and must be found,
    // here and in etcd.
    const custom = kc.makeApiClient(CustomObjectsApi);
    const ha = installations[0] as Installation;
    await custom.createNamespacedCustomObject({ ...osecCoords(ha.tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'control-canary' }, spec: { description: control } } });
    await waitForReady(kc, ha.tenant, 'control-canary', 'NoValue');
    const objects = (await Promise.all(installations.map(async (i) => ((await custom.listNamespacedCustomObject(osecCoords(i.tenant))) as { items: OrkaSecret[] }).items))).flat();
    expect(objects.filter((o) => o.status?.conditions?.[0]?.reason === 'Stored')).toHaveLength(25);
    expectControlOnly('the OrkaSecrets and their statuses', JSON.stringify(objects), planted.all, control);
    expectEtcdControlOnly(cp.etcdUrl, planted.all, control);
  }, 60_000);
});
