/**
 * Repairs without a restart: what the operator does when someone deletes, by hand, a Secret it
 * owns. Real operator process, real apiserver.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { osecCoords } from '../env/canary.js';
import { DATA_KEY_PREFIX } from '../../src/api/resource.js';
import { adminKubeConfig, createNamespace, createServiceAccount, getOrkaSecret, installCrd, waitForReady } from '../env/kube.js';
import { eventually, resolveAsPod, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

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
  await operator.waitForLog(/resolver API and webhooks listening/, 60_000);
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

  it('gets its labels back when they are edited away (the cache selects storage by label)', async () => {
    await create('lost-labels', 'labelled-value');
    await waitForReady(kc, tenant, 'lost-labels', 'Stored');
    await core.patchNamespacedSecret(
      { name: 'orkasecret-lost-labels', namespace: tenant, body: { metadata: { labels: { 'app.kubernetes.io/managed-by': null, 'orka.io/orkasecret': null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const back = await eventually(async () => {
      const s = await core.readNamespacedSecret({ name: 'orkasecret-lost-labels', namespace: tenant });
      return s.metadata?.labels?.['orka.io/orkasecret'] === 'lost-labels' ? s : undefined;
    }, 30_000);
    expect(back.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('orka-secrets');
    expect((await getOrkaSecret(kc, tenant, 'lost-labels')).status?.version).toBe(1);
  });
});

/** POST /v1/resolve on the operator with a pod-bound token of the tenant. */
const resolve = (names: string[]) => resolveAsPod(kc, operator, opNamespace, tenant, names);

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

describe("a tenant's data-key Secret deleted by hand", () => {
  it('is detected and repaired without a restart: values with a source stored again, the one without reported lost by name', { timeout: 120_000 }, async () => {
    await createServiceAccount(kc, tenant, 'runner');
    await create('has-source', 'source-value');
    await create('no-source', 'will-be-lost');
    await waitForReady(kc, tenant, 'has-source', 'Stored');
    await waitForReady(kc, tenant, 'no-source', 'Stored');
    // "Leave empty to keep the existing value": this one now has no source to store it again from.
    await kc.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
      { ...osecCoords(tenant), name: 'no-source', body: { spec: { sealedValue: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitForReady(kc, tenant, 'no-source', 'Stored', (o) => o.spec?.sealedValue === undefined);
    expect((await resolve(['HAS_SOURCE', 'NO_SOURCE'])).values).toEqual({ HAS_SOURCE: 'source-value', NO_SOURCE: 'will-be-lost' });

    await core.deleteNamespacedSecret({ name: `${DATA_KEY_PREFIX}${tenant}`, namespace: opNamespace });

    const lost = await waitForReady(kc, tenant, 'no-source', 'DataKeyLost');
    expect(lost.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('the value of NO_SOURCE is lost');
    const repaired = await waitForReady(kc, tenant, 'has-source', 'Stored', (o) => (o.status?.version ?? 0) >= 2);
    expect(repaired.status?.version).toBe(2);
    await eventually(async () => ((await resolve(['HAS_SOURCE'])).values?.HAS_SOURCE === 'source-value' ? true : undefined));
    expect(await resolve(['NO_SOURCE'])).toMatchObject({ values: {}, missing: ['NO_SOURCE'] });
    expect(await metric('orka_operator_data_keys_lost_total')).toContain(`orka_operator_data_keys_lost_total{tenant="${tenant}"} 1`);
    const events = await eventually(async () => {
      const list = await core.listNamespacedEvent({ namespace: tenant });
      const reasons = list.items.filter((e) => e.reason === 'DataKeyLost').map((e) => e.involvedObject.name);
      return reasons.includes('has-source') && reasons.includes('no-source') ? reasons : undefined;
    });
    expect(events).toEqual(expect.arrayContaining(['has-source', 'no-source']));
  });
});
