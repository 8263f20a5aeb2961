/**
 * Rotation that contains a leak, against a real kube-apiserver with the operator as a real
 * process: a rotation gives every tenant a new data key, the stored values are re-encrypted to it
 * in the background at a bounded rate (and the work survives a restart of the operator half-way),
 * then the earlier data keys and the old key-encryption key are gone, and every value still
 * resolves, with the version it had.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { envelopeKeyId } from '../../src/core/envelope.js';
import { parseKeyRing, rotateKeyRing } from '../../src/core/keyring.js';
import { KEYS_SECRET, type OrkaSecret } from '../../src/api/resource.js';
import { wrappedDataKeys } from '../../src/api/datakey.js';
import { canaries, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, getOrkaSecret, installCrd, waitForReady } from '../env/kube.js';
import { eventually, resolveAsPod, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let opNamespace: string;
let tenants: string[];
let operator: OperatorProcess;
const planted = canaries('CANARY-rotation');
/** namespace -> secret name -> value. */
const values = new Map<string, Map<string, string>>();
/** Values per tenant: with one re-encrypted per second, enough to stop the operator half-way. */
const PER_TENANT = 4;

// The resolver's memo of opened values outlasts the test: every resolve after the first of a
// revision is answered from it, across the rotation.
const start = (identity: string) =>
  startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity, env: { ORKA_WATCH_NAMESPACES: tenants.join(','), ORKA_REENCRYPT_RATE: '1', ORKA_RESOLVE_MEMO_TTL: '1h' } });

async function put(namespace: string, objectName: string, value: string, create: boolean): Promise<void> {
  const secretName = objectName.toUpperCase().replaceAll('-', '_');
  const sealedValue = await sealWithPublishedCert(kc, opNamespace, namespace, secretName, value);
  const custom = kc.makeApiClient(CustomObjectsApi);
  if (create) await custom.createNamespacedCustomObject({ ...osecCoords(namespace), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: objectName }, spec: { sealedValue } } });
  else await custom.patchNamespacedCustomObject({ ...osecCoords(namespace), name: objectName, body: { spec: { sealedValue } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  values.get(namespace)?.set(secretName, value);
}

/** POST /v1/resolve on the running operator with a pod-bound token of `namespace`. */
const resolve = (namespace: string, names: string[]) => resolveAsPod(kc, operator, opNamespace, namespace, names);

/** Every planted value resolves, through the resolver API, to what was planted. */
async function expectAllResolve(): Promise<void> {
  for (const [namespace, planted] of values) {
    const answer = await resolve(namespace, [...planted.keys()]);
    expect(answer.missing).toEqual([]);
    expect(answer.values).toEqual(Object.fromEntries(planted));
  }
}

async function storageOf(namespace: string): Promise<V1Secret[]> {
  return (await core.listNamespacedSecret({ namespace, labelSelector: 'orka.io/orkasecret' })).items;
}

const keyIdOf = (s: V1Secret) => envelopeKeyId(Buffer.from(s.data?.value ?? '', 'base64'));
const versionOf = (s: V1Secret) => Number(Buffer.from(s.data?.version ?? '', 'base64').toString());

async function dataKeySecret(namespace: string): Promise<V1Secret> {
  return await core.readNamespacedSecret({ name: `orka-dk-${namespace}`, namespace: opNamespace });
}

async function ringNow(): Promise<ReturnType<typeof parseKeyRing>> {
  const s = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
  return parseKeyRing(Buffer.from(s.data?.['keyring.json'] ?? '', 'base64').toString());
}

/** Storage Secrets, over every tenant, whose value names the tenant's active data key. */
async function underActiveKey(): Promise<{ done: number; total: number }> {
  let done = 0;
  let total = 0;
  for (const namespace of tenants) {
    const active = (await dataKeySecret(namespace)).metadata?.annotations?.['orka.io/data-key-id'];
    for (const s of await storageOf(namespace)) {
      total++;
      if (keyIdOf(s) === active) done++;
    }
  }
  return { done, total };
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-rotation' });
  tenants = [await createNamespace(kc, { prefix: 'rot-acme', tenant: 'acme' }), await createNamespace(kc, { prefix: 'rot-globex', tenant: 'globex' })];
  for (const ns of tenants) {
    await createServiceAccount(kc, ns, 'runner');
    values.set(ns, new Map());
  }
  operator = await start('rotation-a');
  await operator.waitForLog(/resolver API and webhooks listening/, 60_000);
});

afterAll(async () => {
  await operator?.stop('SIGKILL');
});

describe('rotation', () => {
  it('replaces data keys and retires unused key-encryption keys with every value still resolving', async () => {
    for (const ns of tenants) for (let i = 0; i < PER_TENANT; i++) await put(ns, `value-${i}`, planted.make(`${ns}-${i}`), true);
    for (const ns of tenants) for (let i = 0; i < PER_TENANT; i++) await waitForReady(kc, ns, `value-${i}`, 'Stored');
    // One value changed before the rotation: its version is 2 and must stay 2.
    await put(tenants[0] as string, 'value-0', planted.make('changed-before'), false);
    await waitForReady(kc, tenants[0] as string, 'value-0', 'Stored', (o) => o.status?.version === 2);
    await expectAllResolve();

    const before = await ringNow();
    const oldDataKeys = new Map<string, string>();
    for (const ns of tenants) oldDataKeys.set(ns, (await dataKeySecret(ns)).metadata?.annotations?.['orka.io/data-key-id'] as string);
    const versions = new Map<string, number>();
    for (const ns of tenants) for (const s of await storageOf(ns)) versions.set(`${ns}/${s.metadata?.name}`, versionOf(s));
    const statusVersions = new Map<string, number | undefined>();
    for (const ns of tenants) for (let i = 0; i < PER_TENANT; i++) statusVersions.set(`${ns}/value-${i}`, (await getOrkaSecret(kc, ns, `value-${i}`)).status?.version);

    await core.patchNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace, body: { metadata: { annotations: { 'orka.io/rotate': 'now' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

    // Every tenant gets a new active data key; the earlier one stays (values not yet moved open with it).
    for (const ns of tenants) {
      await eventually(async () => {
        const keys = wrappedDataKeys(await dataKeySecret(ns));
        const active = keys.find((k) => k.active)?.id;
        return active !== undefined && active !== oldDataKeys.get(ns) && keys.some((k) => k.id === oldDataKeys.get(ns)) ? true : undefined;
      }, 60_000);
    }
    // Values move over at the bounded rate (one a second here): wait for some, then stop the
    // operator half-way, with values left under the earlier keys.
    await eventually(async () => ((await underActiveKey()).done >= 2 ? true : undefined), 60_000);
    // Meanwhile, some values are under the new key and some under the old: all resolve.
    await expectAllResolve();
    await operator.stop();
    const halfway = await underActiveKey();
    expect(halfway.total).toBe(2 * PER_TENANT);
    expect(halfway.done).toBeLessThan(halfway.total);

    // A value changed while its tenant's values are being moved: stored under the active key, as version 3.
    const firstLogs = operator.logs;
    operator = await start('rotation-b');
    await operator.waitForLog(/became leader/, 60_000);
    await put(tenants[0] as string, 'value-0', planted.make('changed-during'), false);
    await waitForReady(kc, tenants[0] as string, 'value-0', 'Stored', (o) => o.status?.version === 3);
    versions.set(`${tenants[0]}/orkasecret-value-0`, 3);
    statusVersions.set(`${tenants[0]}/value-0`, 3);

    // The new leader continues where the last one stopped, and finishes.
    await operator.waitForLog(/re-encryption complete/, 180_000);
    expect(await underActiveKey()).toEqual({ done: 2 * PER_TENANT, total: 2 * PER_TENANT });
    for (const ns of tenants) {
      const keys = wrappedDataKeys(await dataKeySecret(ns));
      expect(keys.map((k) => k.active)).toEqual([true]);
      expect(keys[0]?.id).not.toBe(oldDataKeys.get(ns));
    }
    const after = await ringNow();
    expect(after.keks.map((k) => k.id)).toEqual([after.activeKek]);
    expect(after.activeKek).not.toBe(before.activeKek);
    for (const ns of tenants) {
      for (const s of await storageOf(ns)) {
        expect(versionOf(s)).toBe(versions.get(`${ns}/${s.metadata?.name}`));
        // Only ever wrapped under the active KEK: the data key Secret names nothing older.
        expect(keyIdOf(s)).toBe((await dataKeySecret(ns)).metadata?.annotations?.['orka.io/data-key-id']);
      }
      for (const k of wrappedDataKeys(await dataKeySecret(ns))) expect(envelopeKeyId(k.wrapped)).toBe(after.activeKek);
      for (let i = 0; i < PER_TENANT; i++) {
        const o: OrkaSecret = await getOrkaSecret(kc, ns, `value-${i}`);
        expect(o.status?.version).toBe(statusVersions.get(`${ns}/value-${i}`));
      }
    }
    await expectAllResolve();

    // What a person sees: an Event on the keys Secret, and the metrics.
    const events = await eventually(async () => {
      const list = await core.listNamespacedEvent({ namespace: opNamespace, fieldSelector: `involvedObject.name=${KEYS_SECRET}` });
      return list.items.some((e) => e.reason === 'ReencryptionComplete') ? list.items : undefined;
    });
    expect(events.find((e) => e.reason === 'ReencryptionComplete')?.type).toBe('Normal');
    const metrics = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    expect(metrics).toMatch(/orka_operator_values_reencrypted_total [1-9]/);
    expect(metrics).not.toMatch(/orka_operator_reencryption_pending\{tenant="[^"]+"\} [1-9]/);
    // No value reached a log line.
    const logs = [...firstLogs, ...operator.logs].join('\n');
    // Every encoded form (pino writes JSON); the control, planted as pino would write it, proves the search sees.
    expect(findLeaks(logs, planted.all)).toEqual([]);
    const control = canaries('CONTROL-rotation').make('control');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control])).toHaveLength(1);
  }, 400_000);

  it('finishes a rotation that stopped between its writes (the ring rotated, the data keys not yet)', async () => {
    await operator.stop();
    // What a process ending right after the rotation's first write leaves: a ring with a new
    // active key-encryption key, and data keys still wrapped with the old one.
    const keys = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
    const before = parseKeyRing(Buffer.from(keys.data?.['keyring.json'] ?? '', 'base64').toString());
    const rotated = rotateKeyRing(before, new Date());
    await core.replaceNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace, body: { ...keys, data: { ...keys.data, 'keyring.json': Buffer.from(JSON.stringify(rotated)).toString('base64') } } });
    const oldDataKeys = new Map<string, string>();
    for (const ns of tenants) oldDataKeys.set(ns, (await dataKeySecret(ns)).metadata?.annotations?.['orka.io/data-key-id'] as string);

    operator = await start('rotation-c');
    await operator.waitForLog(/finished a rotation that had stopped half-way/, 60_000);
    for (const ns of tenants) {
      const held = wrappedDataKeys(await dataKeySecret(ns));
      expect(held.find((k) => k.active)?.id).not.toBe(oldDataKeys.get(ns));
      for (const k of held) expect(envelopeKeyId(k.wrapped)).toBe(rotated.activeKek);
    }
    await operator.waitForLog(/re-encryption complete/, 180_000);
    expect(await underActiveKey()).toEqual({ done: 2 * PER_TENANT, total: 2 * PER_TENANT });
    const after = await ringNow();
    expect(after.keks.map((k) => k.id)).toEqual([rotated.activeKek]);
    await expectAllResolve();
  }, 400_000);
});
