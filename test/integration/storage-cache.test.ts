/**
 * The storage cache holds data only for the storage Secrets the operator wrote, whoever else sets
 * the two storage labels: not in a namespace that is no tenant, not under a name that is no
 * OrkaSecret's storage, not without that OrkaSecret as controller, and never more than the largest
 * envelope. The OrkaSecret cache holds a digest of a sealed value, not the value. Against the real
 * apiserver: the shared cache in this process (what each object became), then a real operator
 * process (its `orka_operator_cache_bytes` metric, its log, and values that still resolve).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION, KIND, MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, TENANT_LABEL, storageName, type OrkaSecret } from '../../src/api/resource.js';
import { MAX_STORAGE_OBJECT_BYTES, storageSecret } from '../../src/api/storage.js';
import { createLogger } from '../../src/core/logger.js';
import { ClusterCache } from '../../src/operator/kube/cache.js';
import { osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, waitForReady } from '../env/kube.js';
import { eventually, resolveAsPod, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;

const MiB = 1024 * 1024;
const storageLabels = (forName: string) => ({ [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: forName });
/** About 1 MiB of data (base64 in the API), under the 1.5 MiB an object may have in etcd. */
const bulk = (key = 'value') => ({ [key]: randomBytes(MiB - 64 * 1024).toString('base64') });

/** A Secret with the storage labels that is no storage: `owner` forges a controller reference. */
function labelled(name: string, forName: string, options: { size?: 'bulk' | 'small'; owner?: { name: string; uid: string } } = {}): V1Secret {
  const ownerReferences = options.owner === undefined ? [] : [{ apiVersion: API_VERSION, kind: KIND, name: options.owner.name, uid: options.owner.uid, controller: true }];
  return { metadata: { name, labels: storageLabels(forName), ownerReferences }, data: options.size === 'small' ? { value: Buffer.from('x'.repeat(512)).toString('base64'), version: Buffer.from('1').toString('base64') } : bulk() };
}

async function createOsec(namespace: string, name: string, spec: Record<string, unknown>): Promise<OrkaSecret> {
  return (await custom.createNamespacedCustomObject({ ...osecCoords(namespace), body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec } })) as OrkaSecret;
}

/** The Secrets an attacker who can create Secrets plants in `plain` (no tenant) and `tenant`: none is storage. */
async function flood(plain: string, tenant: string, count: number, tag: string): Promise<Array<[string, string]>> {
  const planted: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) {
    // In a namespace that is no tenant, even under a storage name with a forged owner.
    const a = `orkasecret-${tag}-${i}`;
    await core.createNamespacedSecret({ namespace: plain, body: labelled(a, `${tag}-${i}`, { owner: { name: `${tag}-${i}`, uid: randomUUID() } }) });
    // In a tenant namespace: under a name that is no storage name.
    const b = `${tag}-padding-${i}`;
    await core.createNamespacedSecret({ namespace: tenant, body: labelled(b, `${tag}-${i}`) });
    planted.push([plain, a], [tenant, b]);
  }
  // In a tenant namespace, small: a storage name without an owner, and one whose owner does not exist.
  await core.createNamespacedSecret({ namespace: tenant, body: labelled(`orkasecret-${tag}-ghost`, `${tag}-ghost`, { size: 'small' }) });
  await core.createNamespacedSecret({ namespace: tenant, body: labelled(`orkasecret-${tag}-forged`, `${tag}-forged`, { size: 'small', owner: { name: `${tag}-forged`, uid: randomUUID() } }) });
  planted.push([tenant, `orkasecret-${tag}-ghost`], [tenant, `orkasecret-${tag}-forged`]);
  return planted;
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
});

describe('the shared cache', () => {
  let cache: ClusterCache;
  let tenant: string;
  let plain: string;
  let opNamespace: string;
  const warnings: string[] = [];
  const before: Array<[string, string]> = [];

  beforeAll(async () => {
    tenant = await createNamespace(kc, { prefix: 'sc-t', tenant: 'sc' });
    plain = await createNamespace(kc, { prefix: 'sc-plain' });
    opNamespace = await createNamespace(kc, { prefix: 'sc-op' });
    const object = await createOsec(tenant, 'real', { description: 'x' });
    await core.createNamespacedSecret({ namespace: tenant, body: storageSecret(object, { version: 1, envelope: randomBytes(200) }) });
    before.push(...(await flood(plain, tenant, 2, 'listed')));
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (warnings.push(chunk.toString()), done()) });
    cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [] }, createLogger({ name: 'storage-cache-test', level: 'warn' }, sink));
    await cache.synced;
  });

  afterAll(async () => {
    await cache?.stop();
  });

  it('holds no data of labelled Secrets that are no storage, from the first list and from the watch', async () => {
    const watched = await flood(plain, tenant, 2, 'watched');
    for (const [namespace, name] of [...before, ...watched]) {
      const held = await eventually(() => cache.storage.get(name, namespace));
      expect(held.data, `${namespace}/${name}`).toBeUndefined();
      expect(JSON.stringify(held).length).toBeLessThan(1024);
    }
    // The operator's own storage is held whole.
    expect(cache.storage.get(storageName('real'), tenant)?.data?.value).toBeTruthy();
    const bytes = cache.heldBytes().find((c) => c.cache === 'storage')?.bytes ?? Infinity;
    expect(bytes).toBeLessThan(64 * 1024);
  });

  it('drops the data of an owned storage Secret larger than any envelope, with a warning', async () => {
    const object = await createOsec(tenant, 'grown', {});
    const written = await core.createNamespacedSecret({ namespace: tenant, body: storageSecret(object, { version: 1, envelope: randomBytes(200) }) });
    await eventually(() => cache.storage.get(storageName('grown'), tenant)?.data?.value);
    const grown = await core.replaceNamespacedSecret({ name: storageName('grown'), namespace: tenant, body: { ...written, data: { ...written.data, ...bulk('padding') } } });
    const held = await eventually(() => {
      const s = cache.storage.get(storageName('grown'), tenant);
      return s?.metadata?.resourceVersion === grown.metadata?.resourceVersion ? s : undefined;
    });
    expect(held.data).toBeUndefined();
    expect(warnings.join('')).toMatch(/larger than any stored value/);
    expect(warnings.join('')).toContain(`"limit":${MAX_STORAGE_OBJECT_BYTES}`);
    expect(warnings.join('')).not.toContain(grown.data?.padding?.slice(0, 64));
  });

  it('holds a storage Secret that arrived before its namespace became a tenant, once it is one', async () => {
    const late = await createNamespace(kc, { prefix: 'sc-late' });
    const object = await createOsec(late, 'early', {});
    await core.createNamespacedSecret({ namespace: late, body: storageSecret(object, { version: 1, envelope: randomBytes(200) }) });
    const withheld = await eventually(() => cache.storage.get(storageName('early'), late));
    expect(withheld.data).toBeUndefined();
    await core.patchNamespace({ name: late, body: { metadata: { labels: { [TENANT_LABEL]: 'late' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const held = await eventually(() => cache.storage.get(storageName('early'), late)?.data?.value);
    expect(Buffer.from(held, 'base64')).toHaveLength(200);
  });

  it('keeps a digest of a sealed value, not the value', async () => {
    const long = 'A'.repeat(120_000);
    await createOsec(tenant, 'long', { sealedValue: long });
    const held = await eventually(() => cache.orkaSecrets.get('long', tenant));
    expect(JSON.stringify(held)).not.toContain('AAAAAAAAAAAAAAAA');
    expect(JSON.stringify(held).length).toBeLessThan(2048);
    expect(held.spec?.sealedValueDigest).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('a running operator', () => {
  let operator: OperatorProcess;
  let tenant: string;
  let plain: string;
  let opNamespace: string;

  /** One sample of a metric the operator exports, by its labels (undefined: not exported). */
  async function metric(name: string, labels: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  }

  beforeAll(async () => {
    tenant = await createNamespace(kc, { prefix: 'sc-op-t', tenant: 'scop' });
    plain = await createNamespace(kc, { prefix: 'sc-op-plain' });
    opNamespace = await createNamespace(kc, { prefix: 'orka-sc' });
    await createServiceAccount(kc, tenant, 'runner');
    // Planted before the operator starts: its first list holds them all once it is ready.
    await flood(plain, tenant, 10, 'flood');
    operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'op-sc', env: { ORKA_WATCH_NAMESPACES: [tenant, plain].join(',') } });
    await operator.waitForLog(/became leader/);
    await eventually(async () => (await fetch(`http://127.0.0.1:${operator.port}/readyz`)).status === 200 || undefined);
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it('holds none of 20 labelled 1 MiB Secrets, and real values still resolve', async () => {
    await createOsec(tenant, 'api-key', { sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'API_KEY', 'the-real-api-key-value') });
    await waitForReady(kc, tenant, 'api-key', 'Stored');
    await eventually(async () => ((await resolveAsPod(kc, operator, opNamespace, tenant, ['API_KEY'])).values?.API_KEY === 'the-real-api-key-value' ? true : undefined));
    const bytes = await metric('orka_operator_cache_bytes', 'cache="storage"');
    expect(bytes, 'orka_operator_cache_bytes{cache="storage"} is exported').toBeDefined();
    expect(bytes).toBeLessThan(64 * 1024);
  });

  it('drops an owned storage Secret grown past the largest envelope, with a warning, and stores the value again', async () => {
    const name = storageName('api-key');
    const current = await core.readNamespacedSecret({ name, namespace: tenant });
    await core.replaceNamespacedSecret({ name, namespace: tenant, body: { ...current, data: { ...current.data, ...bulk('padding') } } });
    await operator.waitForLog(/larger than any stored value/);
    // The reconciler writes the storage again as it writes it (the padding gone), and it resolves.
    await eventually(async () => (Object.keys((await core.readNamespacedSecret({ name, namespace: tenant })).data ?? {}).sort().join() === 'value,version' ? true : undefined), 30_000);
    await eventually(async () => ((await resolveAsPod(kc, operator, opNamespace, tenant, ['API_KEY'])).values?.API_KEY === 'the-real-api-key-value' ? true : undefined));
    expect((await metric('orka_operator_cache_bytes', 'cache="storage"')) ?? Infinity).toBeLessThan(64 * 1024);
  });

  it('keeps a digest of a 120,000-character sealed value, and still reports it', async () => {
    await createOsec(tenant, 'long', { sealedValue: 'A'.repeat(120_000) });
    await waitForReady(kc, tenant, 'long', 'DecryptFailed');
    expect((await metric('orka_operator_cache_bytes', 'cache="orkasecrets"')) ?? Infinity).toBeLessThan(16 * 1024);
  });
});
