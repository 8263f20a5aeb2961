/**
 * High availability with real processes: two operator replicas, one leader; kill the leader and
 * the other takes over with nothing lost and nothing stored twice; a graceful stop in the middle
 * of a burst of work finishes what is in flight and hands over at once.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/operator/resource.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
const replicas: OperatorProcess[] = [];

async function holder(): Promise<string | undefined> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'orka-secrets-operator', namespace: opNamespace });
  return lease.spec?.holderIdentity || undefined;
}

async function createMany(prefix: string, count: number): Promise<string[]> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const name of names) {
    const secretName = name.toUpperCase().replaceAll('-', '_');
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, secretName, `value-of-${name}`);
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets', body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
  }
  return names;
}

/** Waits until every name is stored, then checks each was stored exactly once (version 1). */
async function expectStoredOnce(names: string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  await eventually(async () => {
    const list = (await custom.listNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets' })) as { items: OrkaSecret[] };
    const stored = list.items.filter((o) => names.includes(o.metadata.name) && o.status?.conditions?.[0]?.reason === 'Stored');
    return stored.length === names.length ? true : undefined;
  }, 45_000);
  for (const name of names) {
    const s = await core.readNamespacedSecret({ name: `orkasecret-${name}`, namespace: tenant });
    expect(Buffer.from(s.data?.version ?? '', 'base64').toString(), name).toBe('1');
    const o = (await custom.getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets', name })) as OrkaSecret;
    expect(o.status?.version, name).toBe(1);
  }
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-ha' });
  tenant = await createNamespace(kc, { prefix: 'ha-tenant', tenant: 'ha' });
  for (const identity of ['replica-a', 'replica-b']) {
    replicas.push(await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: tenant } }));
  }
  await eventually(holder);
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
});

describe('two replicas', () => {
  it('elect exactly one leader, which reconciles', async () => {
    const leader = (await holder()) as string;
    expect(['replica-a', 'replica-b']).toContain(leader);
    const lead = replicas.find((r) => r.identity === leader) as OperatorProcess;
    const other = replicas.find((r) => r.identity !== leader) as OperatorProcess;
    await lead.waitForLog(/became leader/);
    await eventually(async () => (await fetch(`http://127.0.0.1:${other.port}/readyz`)).status === 200 || undefined);
    const names = await createMany('first', 5);
    await expectStoredOnce(names);
    expect(other.logs.some((l) => l.includes('became leader'))).toBe(false);
    expect(other.logs.some((l) => l.includes('value stored'))).toBe(false);
  });

  it('survive the leader being killed: the other takes over, nothing lost, nothing stored twice', async () => {
    const leader = (await holder()) as string;
    const lead = replicas.find((r) => r.identity === leader) as OperatorProcess;
    const other = replicas.find((r) => r.identity !== leader) as OperatorProcess;
    await lead.stop('SIGKILL');
    // Created while nobody leads: the lease must expire first (4 s in these tests).
    const names = await createMany('during-failover', 5);
    await other.waitForLog(/became leader/, 20_000);
    expect(await holder()).toBe(other.identity);
    await expectStoredOnce(names);
    // The killed one comes back as a follower.
    const back = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: lead.identity, env: { ORKA_WATCH_NAMESPACES: tenant } });
    replicas[replicas.indexOf(lead)] = back;
    await eventually(async () => (await fetch(`http://127.0.0.1:${back.port}/readyz`)).status === 200 || undefined);
    expect(await holder()).toBe(other.identity);
  });

  it('hand over at once on a graceful stop in the middle of work, losing nothing', async () => {
    const leader = (await holder()) as string;
    const lead = replicas.find((r) => r.identity === leader) as OperatorProcess;
    const other = replicas.find((r) => r.identity !== leader) as OperatorProcess;
    const names = await createMany('mid-flight', 15);
    const code = await lead.stop('SIGTERM');
    expect(code).toBe(0);
    expect(lead.logs.some((l) => l.includes('released the lease'))).toBe(true);
    const started = Date.now();
    await other.waitForLog(/became leader/, 20_000);
    // Released, not expired: the successor did not wait out the 4 s lease.
    expect(Date.now() - started).toBeLessThan(3500);
    await expectStoredOnce(names);
  });
});
