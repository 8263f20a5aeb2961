/**
 * Repairs without a restart: what the operator does when someone deletes, by hand, a Secret it
 * owns. Real operator process, real apiserver.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, getOrkaSecret, installCrd, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;

async function create(name: string, value: string): Promise<void> {
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, tenant, name.toUpperCase().replaceAll('-', '_'), value);
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-repair' });
  tenant = await createNamespace(kc, { prefix: 'repair-tenant', tenant: 'repair' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'repair', env: { ORKA_WATCH_NAMESPACES: tenant } });
  await operator.waitForLog(/became leader/, 30_000);
});

afterAll(async () => {
  await operator?.stop('SIGKILL');
});

describe('a storage Secret deleted by hand', () => {
  it('is written back with the same status.version: the value did not change', async () => {
    await create('kept-version', 'the-same-value');
    const before = await waitForReady(kc, tenant, 'kept-version', 'Stored');
    expect(before.status?.version).toBe(1);
    const old = await core.readNamespacedSecret({ name: 'orkasecret-kept-version', namespace: tenant });
    await core.deleteNamespacedSecret({ name: 'orkasecret-kept-version', namespace: tenant });
    const back = await eventually(async () => {
      const s = await core.readNamespacedSecret({ name: 'orkasecret-kept-version', namespace: tenant });
      return s.metadata?.uid !== old.metadata?.uid ? s : undefined;
    });
    expect(Buffer.from(back.data?.version ?? '', 'base64').toString()).toBe('1');
    const after = await getOrkaSecret(kc, tenant, 'kept-version');
    expect(after.status?.version).toBe(1);
    expect(after.status?.valueUpdatedAt).toBe(before.status?.valueUpdatedAt);
  });
});
