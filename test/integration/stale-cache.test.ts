/**
 * What the operator deletes, it deletes because the API says the owner is gone, not because its
 * cache does. A cache behind the API (a new leader whose watch has not yet brought an object, a
 * watch re-listing after a gap) must never cost a stored value or a tenant's data key.
 *
 * The caches here are stand-ins, so that their view can lag on cue (an informer's timing cannot
 * be staged); every read and write goes to the real apiserver.
 */
import { stampRecord, VALUE_FROM_RECORD_ANNOTATION } from '../../src/core/valuefrom-record.js';
import { bindingOf, recordKeys } from '../../src/operator/admission/record.js';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Namespace, type V1Secret } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION, DATA_KEY_LABEL, KEYS_SECRET, TENANT_LABEL, dataKeySecretName, GROUP, KIND, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_ANNOTATION, objectKey, PLURAL, ROLE_LABEL, storageName, VERSION, type OrkaSecret } from '../../src/api/resource.js';
import { storageSecret } from '../../src/api/storage.js';
import { tenancyOf } from '../../src/api/tenancy.js';
import { ACTIVE_DATA_KEY_FIELD } from '../../src/api/datakey.js';
import { encryptValue } from '../../src/core/envelope.js';
import { createKeyRing, loadKeyRing } from '../../src/core/keyring.js';
import { createLogger } from '../../src/core/logger.js';
import { ClusterCache } from '../../src/operator/kube/cache.js';
import { loadOperatorConfig } from '../../src/operator/config.js';
import { Operator, ROTATE_ANNOTATION } from '../../src/operator/operator.js';
import type { PooledKubeConfig } from '../../src/operator/kube/client.js';
import { EventRecorder } from '../../src/operator/kube/events.js';
import type { Watched } from '../../src/operator/kube/informers.js';
import { DataKeyStore, type TenantKeys } from '../../src/operator/keys/datakeys.js';
import { createOperatorMetrics } from '../../src/operator/metrics.js';
import { Controller } from '../../src/operator/reconcile/controller.js';
import { adminKubeConfig, createNamespace } from '../env/kube.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
const log = createLogger({ name: 'test', level: 'silent' });

beforeAll(() => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
});

/** A cache of fixed content: `get` by name, `list` all (informers' event hooks are not needed here). */
function fixedCache<T extends { metadata?: { name?: string } }>(objects: T[]): Watched<never> {
  const byName = (name: string) => objects.find((o) => o.metadata?.name === name);
  return { get: byName, list: () => objects, on: () => undefined, synced: Promise.resolve(), confirmedAt: () => Date.now(), stop: async () => undefined } as unknown as Watched<never>;
}

/** What a controller's caches show (the real apiserver answers every read and write). */
interface View {
  operatorNamespace: string;
  namespace: V1Namespace;
  orkaSecrets: OrkaSecret[];
  storage: Watched<V1Secret>;
  sources: V1Secret[];
}

/** A controller whose caches show `view`. */
function controllerOver(view: View, keys: ConstructorParameters<typeof Controller>[2]): Controller {
  const cache = {
    orkaSecrets: fixedCache(view.orkaSecrets),
    // Every storage Secret shown is held with its data (none is waiting to be read again).
    storage: Object.assign(view.storage, { isPending: () => false, isWithheld: () => false }),
    namespaces: fixedCache([view.namespace]),
    sources: fixedCache(view.sources),
    storageOf: async (name: string) => view.storage.get(storageName(name)),
    tenancy: (ns: string) => tenancyOf(ns, view.namespace.metadata?.labels, view.operatorNamespace),
    namespaceUid: () => view.namespace.metadata?.uid,
  } as unknown as ClusterCache;
  return new Controller(kc as PooledKubeConfig, cache, keys, new EventRecorder(kc, log, 'test'), createOperatorMetrics(), { workers: 1, operatorNamespace: view.operatorNamespace, resyncPeriod: 3600, log });
}

/**
 * A tenant whose value of API_TOKEN (from Secret `source`) a previous leader stored, under a data
 * key it made: everything in the API, nothing in any cache yet.
 */
async function storedByPreviousLeader(prefix: string) {
  const opNamespace = await createNamespace(kc, { prefix: `orka-${prefix}` });
  const tenant = await createNamespace(kc, { prefix, tenant: prefix });
  const namespace = await core.readNamespace({ name: tenant });
  const ring = loadKeyRing(createKeyRing(new Date()));
  const keyRing = { require: () => ring };
  const made = (await new DataKeyStore(kc, fixedCache([]), keyRing, { namespace: opNamespace, log }).dataKey(tenant, { create: true, namespaceUid: namespace.metadata?.uid })) as TenantKeys;
  const value = Buffer.from('a-value-from-its-source');
  const source = await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'source' }, data: { token: value.toString('base64') } } });
  const coords = { group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL };
  const ref = { name: 'source', key: 'token' };
  // Recorded at admission as the webhook does (nothing else lets the controller read the source).
  const record = stampRecord(recordKeys(ring), bindingOf({ name: tenant, uid: namespace.metadata?.uid ?? '' }, 'api-token', ref));
  const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'api-token', annotations: { [VALUE_FROM_RECORD_ANNOTATION]: record } }, spec: { valueFrom: { secretKeyRef: ref } } };
  const object = (await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...coords, body })) as OrkaSecret;
  const envelope = encryptValue({ dataKey: made, tenant, name: 'API_TOKEN', version: 1, value });
  const storage = await core.createNamespacedSecret({ namespace: tenant, body: storageSecret(object, { version: 1, envelope }) });
  return { opNamespace, tenant, namespace, keyRing, object, source, storage };
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

describe('a cache behind the API', () => {
  it('never makes the controller delete the storage of an OrkaSecret that still exists', async () => {
    const tenant = await createNamespace(kc, { prefix: 'stale', tenant: 'stale' });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const coords = { group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL };
    const object = (await custom.createNamespacedCustomObject({ ...coords, body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'api-token' }, spec: { valueFrom: { secretKeyRef: { name: 'source', key: 'token' } } } } })) as OrkaSecret;
    // Its value, stored by a previous leader (no controller-manager runs here: nothing collects it).
    const storage = await core.createNamespacedSecret({ namespace: tenant, body: storageSecret(object, { version: 1, envelope: randomBytes(64) }) });
    const namespace: V1Namespace = { metadata: { name: tenant, uid: 'irrelevant', labels: { [TENANT_LABEL]: 'stale' } } };
    // The view: the storage Secret, but not (not yet, or no longer) the OrkaSecret.
    const dataKeys = { dataKey: async () => undefined, dataKeyHolding: async () => undefined, onDataKeyDeleted: () => undefined };
    const controller = controllerOver(
      { operatorNamespace: 'orka-system', namespace, orkaSecrets: [], storage: fixedCache([storage]), sources: [] },
      { ring: { require: () => expect.fail('nothing is unsealed here') }, dataKeys },
    );
    const key = objectKey(tenant, 'api-token');
    const read = () => core.readNamespacedSecret({ name: storageName('api-token'), namespace: tenant });

    await expect(controller.reconcile(key, log)).rejects.toThrow(/newer than the cache/);
    expect(await exists(read)).toBe(true);

    // Once the API agrees the OrkaSecret is gone, its storage goes too.
    await custom.deleteNamespacedCustomObject({ ...coords, name: 'api-token' });
    const plan = await controller.reconcile(key, log);
    expect(plan.outcome).toBe('Deleted');
    expect(await exists(read)).toBe(false);
  });

  it('never deletes the data key of a namespace that exists with the uid the key is bound to', async () => {
    const opNamespace = await createNamespace(kc, { prefix: 'orka-stale' });
    const tenant = await createNamespace(kc, { prefix: 'stale-dk', tenant: 'stale-dk' });
    const uid = (await core.readNamespace({ name: tenant })).metadata?.uid as string;
    const dataKeySecret = (forTenant: string, boundTo: string): V1Secret => ({
      metadata: {
        name: dataKeySecretName(forTenant),
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'data-key', [DATA_KEY_LABEL]: forTenant },
        annotations: { [NAMESPACE_UID_ANNOTATION]: boundTo },
      },
      data: { [ACTIVE_DATA_KEY_FIELD]: randomBytes(60).toString('base64') },
    });
    const live = await core.createNamespacedSecret({ namespace: opNamespace, body: dataKeySecret(tenant, uid) });
    // Two that must go: a namespace that does not exist, and one recreated since its key was made.
    const gone = await core.createNamespacedSecret({ namespace: opNamespace, body: dataKeySecret('never-existed', 'some-uid') });
    const since = await createNamespace(kc, { prefix: 'stale-re', tenant: 'stale-re' });
    const recreated = await core.createNamespacedSecret({ namespace: opNamespace, body: dataKeySecret(since, 'an-earlier-uid') });
    const store = new DataKeyStore(kc, fixedCache([live, gone, recreated]), { require: () => expect.fail('no key is unwrapped here') }, { namespace: opNamespace, log });

    // The namespace cache knows none of them (a new leader whose watch is behind).
    await store.reconcile(() => undefined);

    const names = (await core.listNamespacedSecret({ namespace: opNamespace })).items.map((s) => s.metadata?.name);
    expect(names).toContain(dataKeySecretName(tenant));
    expect(names).not.toContain(dataKeySecretName('never-existed'));
    expect(names).not.toContain(dataKeySecretName(since));
  });

  it('never takes a data key it has not seen yet for a lost one (no value stored again)', async () => {
    const { opNamespace, tenant, namespace, keyRing, object, source, storage } = await storedByPreviousLeader('stale-new');
    // The data key the previous leader made is in the API, not (yet) in this one's cache.
    const dataKeys = new DataKeyStore(kc, fixedCache([]), keyRing, { namespace: opNamespace, log });
    const controller = controllerOver({ operatorNamespace: opNamespace, namespace, orkaSecrets: [object], storage: fixedCache([storage]), sources: [source] }, { ring: keyRing, dataKeys });

    const plan = await controller.reconcile(objectKey(tenant, 'api-token'), log);

    expect(plan.storage.op).toBe('keep');
    const after = await core.readNamespacedSecret({ name: storageName('api-token'), namespace: tenant });
    expect(after.metadata?.resourceVersion).toBe(storage.metadata?.resourceVersion);
  });

  it('never writes over a storage Secret the cache brought after the decision was made', async () => {
    // Stored by the previous leader just before the handover.
    const { opNamespace, tenant, namespace, keyRing, object, source, storage } = await storedByPreviousLeader('stale-win');
    const dataKeys = new DataKeyStore(kc, fixedCache([]), keyRing, { namespace: opNamespace, log });
    // The view: no storage Secret when the reconcile starts; the watch brings it while the
    // source is being read (as it may while a sealed value is unsealed on the thread pool).
    const rest = (kc as PooledKubeConfig).rest;
    const send = rest.send.bind(rest);
    let caughtUp = false;
    rest.send = (async (req: Parameters<typeof send>[0]) => {
      const answer: unknown = await send(req);
      if (req.method === 'GET' && req.path.endsWith('/secrets/source')) caughtUp = true;
      return answer;
    }) as typeof rest.send;
    const laggingStorage = { ...(fixedCache([]) as object), get: (name: string) => (caughtUp && name === storage.metadata?.name ? storage : undefined) } as unknown as Watched<V1Secret>;
    const controller = controllerOver({ operatorNamespace: opNamespace, namespace, orkaSecrets: [object], storage: laggingStorage, sources: [source] }, { ring: keyRing, dataKeys });
    try {
      await expect(controller.reconcile(objectKey(tenant, 'api-token'), log)).rejects.toThrow(/newer than the cache/);
    } finally {
      rest.send = send;
    }
    const after = await core.readNamespacedSecret({ name: storageName('api-token'), namespace: tenant });
    expect(after.metadata?.resourceVersion).toBe(storage.metadata?.resourceVersion);
  });

  it('never replaces a live tenant\'s data key because the cache holds an earlier namespace of that name', async () => {
    const opNamespace = await createNamespace(kc, { prefix: 'orka-stale-uid' });
    const tenant = await createNamespace(kc, { prefix: 'stale-uid', tenant: 'stale-uid' });
    const uid = (await core.readNamespace({ name: tenant })).metadata?.uid;
    const ring = loadKeyRing(createKeyRing(new Date()));
    const keyRing = { require: () => ring };
    const made = (await new DataKeyStore(kc, fixedCache([]), keyRing, { namespace: opNamespace, log }).dataKey(tenant, { create: true, namespaceUid: uid })) as TenantKeys;
    const secret = await core.readNamespacedSecret({ name: dataKeySecretName(tenant), namespace: opNamespace });
    const store = new DataKeyStore(kc, fixedCache([secret]), keyRing, { namespace: opNamespace, log });

    // The namespace cache still has the namespace this name had before (another uid).
    const key = await store.dataKey(tenant, { create: true, namespaceUid: 'the-uid-of-an-earlier-namespace' });

    expect(key?.id).toBe(made.id);
    const after = await core.readNamespacedSecret({ name: dataKeySecretName(tenant), namespace: opNamespace });
    expect(after.metadata?.uid).toBe(secret.metadata?.uid);
  });

  // The control: the same stale view, but the API still asks for the rotation. Without it, a
  // rotation that failed early (its error logged and swallowed) would pass the stale case too.
  it.each([
    ['never rotates the keys again for a request another leader already carried out', false],
    ['does rotate when the keys Secret read from the API still asks for it (the control)', true],
  ])('%s', async (_title, stillRequested) => {
    const opNamespace = await createNamespace(kc, { prefix: 'orka-stale-rot' });
    const cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [opNamespace] }, log);
    const lines: string[] = [];
    const recording = createLogger({ name: 'test', level: 'info' }, { write: (line: string) => void lines.push(line) });
    try {
      const metrics = createOperatorMetrics();
      const operator = new Operator(kc as PooledKubeConfig, cache, loadOperatorConfig({ ORKA_NAMESPACE: opNamespace, ORKA_POD_NAME: 'replica-a' }), recording, metrics);
      // The ring as the previous leader left it: rotated, and (unless this is the control) its
      // request annotation removed...
      await operator.keyRing.ensure();
      if (stillRequested) {
        await core.patchNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace, body: { metadata: { annotations: { [ROTATE_ANNOTATION]: 'requested' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      }
      const before = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
      // ...and as this leader's cache still shows it: the request not yet carried out.
      const stale = loadKeyRing(createKeyRing(new Date()));
      operator.keyRing.current = () => stale;
      operator.keyRing.annotation = (name) => (name === ROTATE_ANNOTATION ? 'requested' : undefined);
      Object.defineProperty(operator.elector, 'isLeader', { get: () => true });

      await operator.maybeRotate();

      const after = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
      const rotations = (await metrics.keyRotations.get()).values[0]?.value ?? 0;
      const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(messages).toContain('rotating keys');
      expect(messages.filter((m) => /rotation failed/.test(m)), 'the rotation ran to its decision, no error swallowed').toEqual([]);
      if (stillRequested) {
        expect(after.metadata?.resourceVersion).not.toBe(before.metadata?.resourceVersion);
        expect(rotations).toBe(1);
      } else {
        // Not rotated, and for the reason under test: the API showed it was already made.
        expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
        expect(messages).toContain('no rotation after all: the keys Secret, read from the API, shows it was already made');
        expect(rotations).toBe(0);
      }
    } finally {
      await cache.stop();
    }
  });
});
