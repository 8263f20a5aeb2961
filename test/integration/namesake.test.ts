/**
 * Sealed values follow their tenant, not a namespace name, against the real apiserver (no admission
 * webhook here: what the operator alone does). A tenant is off-boarded (its namespace deleted), and
 * a namespace of the same name is made for another tenant (another orka.io/tenant label): the first
 * tenant's manifest from Git stores nothing there. Made again for the first tenant (a restore: same
 * name, same label, the same key ring), the same manifest opens.
 */
import { createPublicKey } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CERT_CONFIGMAP, type OrkaSecret } from '../../src/api/resource.js';
import { sealingKeyIdOf } from '../../src/core/sealing-cert.js';
import { canaries, findLeaks, osecCoords } from '../env/canary.js';
import { deleteNamespace } from '../env/controllers.js';
import { adminKubeConfig, createNamespace, getOrkaSecret, installCrd, TENANT_LABEL, uniqueName, waitForReady } from '../env/kube.js';
import { sealNamespaceBound } from '../env/raw-seal.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let operator: OperatorProcess;
let opNamespace: string;
/** The namespace name two tenants get, one after the other. */
const acme = uniqueName('acme');
/** A namespace holding values sealed by an earlier release (layout 1). */
const legacy = uniqueName('legacy');
const planted = canaries();

const manifest = (namespace: string, sealedValue: string): OrkaSecret => ({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key', namespace }, spec: { sealedValue } });

async function storage(namespace: string): Promise<boolean> {
  try {
    await core.readNamespacedSecret({ name: 'orkasecret-api-key', namespace });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

async function makeNamespace(name: string, tenantId: string, annotations: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels: { [TENANT_LABEL]: tenantId }, annotations } } });
}

const readyOf = (o: OrkaSecret) => o.status?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-namesake' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'namesake-op', env: { ORKA_WATCH_NAMESPACES: [acme, legacy, opNamespace].join(',') } });
  await operator.waitForLog(/resolver API and webhooks listening/);
});

afterAll(async () => {
  await operator?.stop();
  // No value in the operator's log, refused or stored.
  expect(findLeaks(operator?.logs.join('\n') ?? '', planted.all)).toEqual([]);
});

describe('a namespace made again with the same name', () => {
  it("opens nothing of the earlier tenant's for another tenant, and opens it again for the same tenant", async () => {
    await makeNamespace(acme, 'tenant-x');
    // Sealed for acme while it belongs to tenant-x, as `orka-secrets seal` writes it into Git.
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, acme, 'API_KEY', planted.make('acme-x'));
    await custom.createNamespacedCustomObject({ ...osecCoords(acme), body: manifest(acme, sealedValue) });
    await waitForReady(kc, acme, 'api-key', 'Stored');

    // Tenant-x is off-boarded; namespace acme goes to tenant-y, whose GitOps applies the old manifest.
    await deleteNamespace(cp, kc, acme);
    await makeNamespace(acme, 'tenant-y');
    await custom.createNamespacedCustomObject({ ...osecCoords(acme), body: manifest(acme, sealedValue) });
    const refused = await waitForReady(kc, acme, 'api-key', 'SealedForAnotherTenant');
    expect(readyOf(refused)).toMatchObject({
      status: 'False',
      message: expect.stringMatching(new RegExp(`sealed for tenant tenant-x, and namespace ${acme} belongs to tenant tenant-y .*nothing was stored`)),
    });
    expect(refused.status?.version).toBeUndefined();
    expect(await storage(acme)).toBe(false);

    // Restored for tenant-x (same name, same label, the key ring kept): the same manifest opens.
    await deleteNamespace(cp, kc, acme);
    await makeNamespace(acme, 'tenant-x');
    await custom.createNamespacedCustomObject({ ...osecCoords(acme), body: manifest(acme, sealedValue) });
    await waitForReady(kc, acme, 'api-key', 'Stored');
    expect(await storage(acme)).toBe(true);

    // Relabelled to another tenant: the value stored stays served, the sealed value no longer opens.
    await core.patchNamespace({ name: acme, body: [{ op: 'replace', path: '/metadata/labels/orka.io~1tenant', value: 'tenant-z' }] });
    // Waited for as the settled state (the reconcile the relabel queues may run while this
    // replica's caches still catch up with the namespace's other events).
    const relabelled = await waitForReady(kc, acme, 'api-key', 'SealedForAnotherTenant', (o) => readyOf(o)?.status === 'True').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(readyOf(await getOrkaSecret(kc, acme, 'api-key')))}`);
    });
    expect(readyOf(relabelled)).toMatchObject({ status: 'True', message: expect.stringMatching(/the previous value \(version 1\) is still served$/) });
    expect(await storage(acme)).toBe(true);
  });
});

describe('values sealed by an earlier release (bound to the namespace name only)', () => {
  it('open only where the platform annotated this namespace object with its own UID', async () => {
    await makeNamespace(legacy, 'tenant-l');
    const cm = await eventually(() => core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: opNamespace }));
    const certPem = cm.data?.['cert.pem'] as string;
    const sealedValue = sealNamespaceBound({ publicKey: createPublicKey(certPem), keyId: sealingKeyIdOf(certPem), namespace: legacy, name: 'API_KEY', value: Buffer.from(planted.make('legacy')) }).toString('base64');
    await custom.createNamespacedCustomObject({ ...osecCoords(legacy), body: manifest(legacy, sealedValue) });
    const refused = await waitForReady(kc, legacy, 'api-key', 'NamespaceBoundSealedValue');
    expect(readyOf(refused)?.message).toMatch(/format of earlier releases.*orka-secrets -n \S+ seal API_KEY/);
    expect(await storage(legacy)).toBe(false);

    // (An annotation naming another namespace object accepts nothing: test/unit/api/sealing.test.ts.)
    const uid = (await core.readNamespace({ name: legacy })).metadata?.uid as string;
    await core.patchNamespace({ name: legacy, body: [{ op: 'add', path: '/metadata/annotations', value: { 'orka.io/accept-namespace-sealed': uid } }] });
    await waitForReady(kc, legacy, 'api-key', 'Stored');
    expect(await storage(legacy)).toBe(true);
  });
});
