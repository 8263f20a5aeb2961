/**
 * The operator's shared cache against the real apiserver: it holds what the operator owns or
 * references and no more. Secrets that are not storage are cached as metadata only (no data,
 * whether they arrived by the first list or by the watch); managed fields and kubectl's
 * last-applied copy are never cached; the operator namespace's Secrets are watched once.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, type OrkaSecret } from '../../src/api/resource.js';
import { ClusterCache } from '../../src/operator/kube/cache.js';
import { createLogger } from '../../src/core/logger.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, requestToken, uniqueName } from '../env/kube.js';
import { eventually } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let tenant: string;
let other: string;
let opNamespace: string;
let cache: ClusterCache;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const payload = 'not-for-the-cache-'.repeat(50);

function secret(name: string, labels: Record<string, string> = {}): V1Secret {
  return { metadata: { name, labels, annotations: { [LAST_APPLIED]: '{"a copy":"of everything"}' } }, stringData: { value: payload } };
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  tenant = await createNamespace(kc, { prefix: 'cache-t', tenant: 'cache' });
  other = await createNamespace(kc, { prefix: 'cache-other' });
  opNamespace = await createNamespace(kc, { prefix: 'cache-op' });
  // Before the cache starts (the first list) ...
  await core.createNamespacedSecret({ namespace: other, body: secret('listed') });
  await core.createNamespacedSecret({ namespace: opNamespace, body: secret('orka-secrets-keys', { [MANAGED_BY_LABEL]: MANAGED_BY }) });
  const owner = (await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'orka.io',
    version: 'v1alpha1',
    plural: 'orkasecrets',
    namespace: tenant,
    body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'stored', annotations: { [LAST_APPLIED]: '{"spec":"again"}' } }, spec: { description: 'x' } },
  })) as OrkaSecret;
  // Storage as the operator writes it: under the storage name, its OrkaSecret the controller.
  const stored = secret('orkasecret-stored', { [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: 'stored' });
  stored.metadata = { ...stored.metadata, ownerReferences: [{ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', name: 'stored', uid: owner.metadata.uid as string, controller: true }] };
  await core.createNamespacedSecret({ namespace: tenant, body: stored });
  cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [] }, createLogger({ name: 'cache-test', level: 'silent' }));
  await cache.synced;
});

afterAll(async () => {
  await cache?.stop();
});

describe('the shared cache', () => {
  it('holds other Secrets as metadata only, from the first list and from the watch', async () => {
    const listed = cache.sources.get('listed', other);
    expect(listed?.metadata.resourceVersion).toBeTruthy();
    expect(JSON.stringify(listed)).not.toContain('not-for-the-cache');
    // ... and after it started (the watch).
    const created = await core.createNamespacedSecret({ namespace: other, body: secret('watched') });
    const watched = await eventually(() => cache.sources.get('watched', other));
    expect(watched.metadata.resourceVersion).toBe(created.metadata?.resourceVersion);
    expect(JSON.stringify(watched)).not.toContain('not-for-the-cache');
    // A change is seen as a new version, still without data.
    const replaced = await core.replaceNamespacedSecret({ name: 'watched', namespace: other, body: { ...secret('watched'), stringData: { value: `${payload}2` } } });
    const changed = await eventually(() => (cache.sources.get('watched', other)?.metadata.resourceVersion === replaced.metadata?.resourceVersion ? cache.sources.get('watched', other) : undefined));
    expect(JSON.stringify(changed)).not.toContain('not-for-the-cache');
  });

  it('holds storage Secrets with their data, and only there', () => {
    const stored = cache.storage.get('orkasecret-stored', tenant);
    expect(Buffer.from(stored?.data?.value ?? '', 'base64').toString()).toBe(payload);
    expect(cache.sources.get('orkasecret-stored', tenant)).toBeUndefined();
    expect(cache.storage.get('listed', other)).toBeUndefined();
  });

  it("watches the operator's namespace once, apart from the tenants' Secrets", () => {
    expect(cache.own.get('orka-secrets-keys', opNamespace)?.data?.value).toBeTruthy();
    expect(cache.sources.get('orka-secrets-keys', opNamespace)).toBeUndefined();
    expect(cache.own.list().every((s) => s.metadata?.namespace === opNamespace)).toBe(true);
  });

  it('never caches managed fields or the last-applied copy', () => {
    const objects = [cache.sources.get('listed', other), cache.storage.get('orkasecret-stored', tenant), cache.own.get('orka-secrets-keys', opNamespace), cache.orkaSecrets.get('stored', tenant), cache.namespaces.get(tenant)];
    for (const o of objects) {
      expect(o?.metadata?.name).toBeTruthy();
      expect(o?.metadata?.managedFields).toBeUndefined();
      expect(o?.metadata?.annotations?.[LAST_APPLIED]).toBeUndefined();
    }
  });

  it('reads every page of every list (custom objects name the continue token differently)', async () => {
    const paged = await createNamespace(kc, { prefix: 'cache-paged', tenant: 'paged' });
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (let i = 0; i < 5; i++) {
      await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: paged, body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: `page-${i}` }, spec: {} } });
      await core.createNamespacedSecret({ namespace: paged, body: secret(`source-${i}`) });
      await core.createNamespacedSecret({ namespace: paged, body: secret(`orkasecret-page-${i}`, { [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: `page-${i}` }) });
    }
    const small = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [], pageSize: 2 }, createLogger({ name: 'cache-test', level: 'silent' }));
    try {
      await small.synced;
      expect(small.orkaSecrets.list(paged).map((o) => o.metadata.name).sort()).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
      expect(small.sources.list(paged)).toHaveLength(5);
      expect(small.storage.list(paged)).toHaveLength(5);
      const namespaces = await core.listNamespace();
      expect(small.namespaces.list()).toHaveLength(namespaces.items.length);
    } finally {
      await small.stop();
    }
  });

  it('fills from an empty metadata-only list (the apiserver sends items: null)', async () => {
    const empty = await createNamespace(kc, { prefix: 'cache-empty' });
    const scoped = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [empty] }, createLogger({ name: 'cache-test', level: 'silent' }));
    try {
      await scoped.synced;
      expect(scoped.sources.list()).toEqual([]);
      await core.createNamespacedSecret({ namespace: empty, body: secret('later') });
      await eventually(() => scoped.sources.get('later', empty));
    } finally {
      await scoped.stop();
    }
  });

  it('is not synced while a first list fails (client-node reports the failure but starts anyway), and is once it succeeds', async () => {
    // A reader that may list everything the cache lists except Namespaces, until granted.
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const home = await createNamespace(kc, { prefix: 'cache-rbac' });
    await createServiceAccount(kc, home, 'reader');
    const name = uniqueName('cache-reader');
    const rule = (apiGroups: string[], resources: string[]) => ({ apiGroups, resources, verbs: ['list', 'watch'] });
    await rbac.createClusterRole({ body: { metadata: { name }, rules: [rule([''], ['secrets']), rule(['orka.io'], ['orkasecrets'])] } });
    await rbac.createClusterRole({ body: { metadata: { name: `${name}-ns` }, rules: [rule([''], ['namespaces'])] } });
    const subjects = [{ kind: 'ServiceAccount', name: 'reader', namespace: home }];
    await rbac.createClusterRoleBinding({ body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects } });
    const token = await requestToken(kc, { namespace: home, serviceAccount: 'reader', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    const reader = new KubeConfig();
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('no cluster');
    reader.loadFromOptions({ clusters: [cluster], users: [{ name: 'reader', token }], contexts: [{ name: 'reader', cluster: cluster.name, user: 'reader' }], currentContext: 'reader' });
    const limited = new ClusterCache(reader, { operatorNamespace: opNamespace, namespaces: [] }, createLogger({ name: 'cache-test', level: 'silent' }));
    try {
      const early = await Promise.race([limited.synced.then(() => 'synced'), new Promise((r) => setTimeout(() => r('not synced'), 3000))]);
      expect(early).toBe('not synced');
      expect(limited.namespaces.list()).toEqual([]);
      await rbac.createClusterRoleBinding({ body: { metadata: { name: `${name}-ns` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${name}-ns` }, subjects } });
      await limited.synced;
      expect(limited.namespaces.get(home)?.metadata?.uid).toBeTruthy();
    } finally {
      await limited.stop();
    }
  });

  it('answers tenancy and namespace UIDs from the cache', async () => {
    expect(cache.tenancy(tenant)).toEqual({ tenant: true });
    expect(cache.tenancy(other)).toMatchObject({ tenant: false });
    expect(cache.tenancy(opNamespace)).toMatchObject({ tenant: false, never: true });
    const ns = await core.readNamespace({ name: tenant });
    expect(cache.namespaceUid(tenant)).toBe(ns.metadata?.uid);
    expect(cache.freshness().map((f) => f.name)).toEqual(['orkasecrets', 'namespaces', 'storage secrets', 'source secrets', 'own secrets']);
    expect(cache.freshness().every((f) => f.confirmedAt > 0)).toBe(true);
  });
});
