import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { aesKey, encryptValue, generateDataKey } from '../../../../src/core/envelope.js';
import { createLogger } from '../../../../src/core/logger.js';
import type { OrkaSecret } from '../../../../src/api/resource.js';
import { storageSecret } from '../../../../src/api/storage.js';
import type { DataKeyStore } from '../../../../src/operator/keys/datakeys.js';
import type { ClusterCache } from '../../../../src/operator/kube/cache.js';
import { Resolver, STORAGE_CATCH_UP_MS } from '../../../../src/operator/resolver/resolver.js';
import type { KeyObject } from 'node:crypto';
import { Writable } from 'node:stream';

// The resolver against a stand-in of the shared cache (a map per kind) and of the key store: what
// is tested is how it reads what the cache holds, not the cache (kube/cache.ts has its own tests).
const key = { id: 'dk-1', key: aesKey(generateDataKey()) };
const owner: OrkaSecret = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key', namespace: 'acme', uid: 'u-1' }, spec: { sealedValue: 'x' } } as OrkaSecret;

function stored(value: string, version: number, resourceVersion: string): V1Secret {
  return storageSecret(owner, { version, envelope: encryptValue({ dataKey: key, tenant: 'acme', name: 'API_KEY', version, value: Buffer.from(value) }) }, resourceVersion);
}

function setup() {
  const storage = new Map<string, V1Secret>();
  const objects = new Map<string, OrkaSecret>([['api-key', owner]]);
  // The storage cache's handlers, to apply a storage Secret as an informer does (map, then handlers).
  const storageHandlers: Array<(s: V1Secret) => void> = [];
  let view = 0;
  const cache = {
    storage: { get: (name: string) => storage.get(name), on: (verb: string, cb: (s: V1Secret) => void) => verb === 'update' && storageHandlers.push(cb) },
    orkaSecrets: { get: (name: string) => objects.get(name), on: () => undefined },
    namespaceUid: () => 'ns-uid',
    viewRevision: () => view,
  } as unknown as ClusterCache;
  // The tenant's data keys as the key store gives them: a new object whenever its Secret changes.
  let tenantKey: { id: string; key: KeyObject } | undefined = key;
  const keys = { dataKey: async () => tenantKey && { id: tenantKey.id, key: tenantKey.key, lookup: (id: string) => (id === tenantKey?.id ? tenantKey.key : undefined) } } as unknown as DataKeyStore;
  const warnings: string[] = [];
  const log = createLogger({ name: 'test' }, new Writable({ write: (c: Buffer, _e, done) => (warnings.push(c.toString()), done()) }));
  let current = true;
  // With the memo on (as the operator runs it): every case below must hold through it.
  const resolver = new Resolver(cache, keys, log, () => ({ current, viewAgeMs: current ? 10 : 99_000 }), { ttlMs: 60_000, maxBytes: 1 << 20 });
  const apply = (secret: V1Secret) => {
    storage.set(secret.metadata?.name as string, secret);
    for (const cb of storageHandlers) cb(secret);
  };
  return { resolver, storage, objects, warnings, apply, setView: (v: number) => (view = v), stale: () => (current = false), setKey: (k: typeof tenantKey) => (tenantKey = k) };
}

describe('Resolver', () => {
  it('answers the value a storage Secret holds now: a replaced object is read again, a deleted one is missing', async () => {
    const { resolver, storage } = setup();
    storage.set('orkasecret-api-key', stored('first', 1, '10'));
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: { API_KEY: 'first' }, missing: [], revisions: { API_KEY: '10' } });
    expect((await resolver.resolve('acme', ['API_KEY'])).values).toEqual({ API_KEY: 'first' });
    storage.set('orkasecret-api-key', stored('second', 2, '11'));
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: { API_KEY: 'second' }, revisions: { API_KEY: '11' } });
    storage.delete('orkasecret-api-key');
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: {}, missing: ['API_KEY'] });
  });

  it('reads an object whose resourceVersion changed in place again', async () => {
    const { resolver, storage } = setup();
    const secret = stored('first', 1, '10');
    storage.set('orkasecret-api-key', secret);
    expect((await resolver.resolve('acme', ['API_KEY'])).values).toEqual({ API_KEY: 'first' });
    Object.assign(secret, { data: stored('second', 2, '11').data, metadata: { ...secret.metadata, resourceVersion: '11' } });
    expect((await resolver.resolve('acme', ['API_KEY'])).values).toEqual({ API_KEY: 'second' });
  });

  it('answers a malformed envelope as missing, with a warning each time, never the bytes', async () => {
    const { resolver, storage, warnings } = setup();
    const secret = stored('first', 1, '10');
    storage.set('orkasecret-api-key', { ...secret, data: { ...secret.data, value: Buffer.from('not an envelope').toString('base64') } });
    for (let i = 0; i < 2; i++) expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: {}, missing: ['API_KEY'] });
    expect(warnings.filter((w) => w.includes('stored value cannot be decrypted'))).toHaveLength(2);
  });

  it('refuses when the view is stale, even for a name it has read before', async () => {
    const { resolver, storage, stale } = setup();
    storage.set('orkasecret-api-key', stored('first', 1, '10'));
    await resolver.resolve('acme', ['API_KEY']);
    stale();
    await expect(resolver.resolve('acme', ['API_KEY'])).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('answers a memoised value again without opening it, and never past its data key', async () => {
    const { resolver, storage, setKey } = setup();
    storage.set('orkasecret-api-key', stored('first', 1, '10'));
    for (let i = 0; i < 3; i++) expect((await resolver.resolve('acme', ['API_KEY'])).values).toEqual({ API_KEY: 'first' });
    expect(resolver.memo.stats()).toMatchObject({ hits: 2, misses: 1 });
    // The same data key unwrapped again (its Secret changed: a rotation): a new object, opened again.
    setKey({ id: key.id, key: aesKey(key.key.export()) });
    expect((await resolver.resolve('acme', ['API_KEY'])).values).toEqual({ API_KEY: 'first' });
    expect(resolver.memo.stats()).toMatchObject({ hits: 2, misses: 2 });
    // The tenant's data key gone (its namespace deleted, or the key Secret): missing, memo or not.
    setKey(undefined);
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: {}, missing: ['API_KEY'] });
    // Another key under the same id (lost and made again): the old ciphertext no longer opens.
    setKey({ id: key.id, key: aesKey(generateDataKey()) });
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: {}, missing: ['API_KEY'] });
  });
});

/** `owner` as its status says once version `version` is stored: Ready. */
function readyAt(version: number): OrkaSecret {
  const condition = { type: 'Ready', status: 'True' as const, reason: 'Stored', message: 'stored', lastTransitionTime: '2026-01-01T00:00:00Z' };
  return { ...owner, status: { version, conditions: [condition] } };
}

describe('Resolver view revision', () => {
  it('answers with the view its caches had when it read them, a missing name included', async () => {
    const { resolver, setView } = setup();
    setView(1234);
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: {}, missing: ['API_KEY'], view: '1234' });
  });
});

describe('Resolver: Ready means resolvable', () => {
  it('waits for the storage cache to bring the version the status reports Ready, woken by the update (not missing, not the old value)', async () => {
    const { resolver, objects, storage, apply } = setup();
    storage.set('orkasecret-api-key', stored('first', 1, '10'));
    objects.set('api-key', readyAt(2));
    let settled = false;
    const pending = resolver.resolve('acme', ['API_KEY']).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    apply(stored('second', 2, '11'));
    expect(await pending).toMatchObject({ values: { API_KEY: 'second' }, missing: [], revisions: { API_KEY: '11' } });
  });

  it('waits for a first store too (Ready, no storage Secret in the cache yet)', async () => {
    const { resolver, objects, apply } = setup();
    objects.set('api-key', readyAt(1));
    const pending = resolver.resolve('acme', ['API_KEY', 'OTHER']);
    setTimeout(() => apply(stored('first', 1, '10')), 20);
    expect(await pending).toMatchObject({ values: { API_KEY: 'first' }, missing: ['OTHER'] });
  });

  it('answers UPSTREAM_UNAVAILABLE, never missing, when the cache does not catch up within the bound', { timeout: STORAGE_CATCH_UP_MS + 5000 }, async () => {
    const { resolver, objects } = setup();
    objects.set('api-key', readyAt(1));
    const started = Date.now();
    await expect(resolver.resolve('acme', ['API_KEY'])).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(STORAGE_CATCH_UP_MS - 50);
  });

  it('does not wait for an OrkaSecret that is not Ready, nor when the cache holds that version or newer', async () => {
    const { resolver, objects, storage } = setup();
    const failing = { type: 'Ready', status: 'False' as const, reason: 'SourceNotFound', message: 'no source', lastTransitionTime: '2026-01-01T00:00:00Z' };
    objects.set('api-key', { ...owner, status: { version: 1, conditions: [failing] } });
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ missing: ['API_KEY'] });
    objects.set('api-key', readyAt(1));
    storage.set('orkasecret-api-key', stored('second', 2, '11'));
    expect(await resolver.resolve('acme', ['API_KEY'])).toMatchObject({ values: { API_KEY: 'second' } });
  });
});
