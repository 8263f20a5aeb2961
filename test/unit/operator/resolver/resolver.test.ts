import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { aesKey, encryptValue, generateDataKey } from '../../../../src/core/envelope.js';
import { createLogger } from '../../../../src/core/logger.js';
import type { OrkaSecret } from '../../../../src/api/resource.js';
import { storageSecret } from '../../../../src/api/storage.js';
import type { DataKeyStore } from '../../../../src/operator/keys/datakeys.js';
import type { ClusterCache } from '../../../../src/operator/kube/cache.js';
import { Resolver } from '../../../../src/operator/resolver/resolver.js';
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
  const cache = {
    storage: { get: (name: string) => storage.get(name), on: () => undefined },
    orkaSecrets: { get: (name: string) => objects.get(name), on: () => undefined },
    namespaceUid: () => 'ns-uid',
  } as unknown as ClusterCache;
  // The tenant's data keys as the key store gives them: a new object whenever its Secret changes.
  let tenantKey: { id: string; key: KeyObject } | undefined = key;
  const keys = { dataKey: async () => tenantKey && { id: tenantKey.id, key: tenantKey.key, lookup: (id: string) => (id === tenantKey?.id ? tenantKey.key : undefined) } } as unknown as DataKeyStore;
  const warnings: string[] = [];
  const log = createLogger({ name: 'test' }, new Writable({ write: (c: Buffer, _e, done) => (warnings.push(c.toString()), done()) }));
  let current = true;
  // With the memo on (as the operator runs it): every case below must hold through it.
  const resolver = new Resolver(cache, keys, log, () => ({ current, viewAgeMs: current ? 10 : 99_000 }), { ttlMs: 60_000, maxBytes: 1 << 20 });
  return { resolver, storage, objects, warnings, stale: () => (current = false), setKey: (k: typeof tenantKey) => (tenantKey = k) };
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
