import type { V1Secret } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decryptValue, encryptValue, envelopeKeyId, generateDataKey } from '../../../../src/core/envelope.js';
import { createLogger } from '../../../../src/core/logger.js';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL } from '../../../../src/api/resource.js';
import { readStorage } from '../../../../src/api/storage.js';
import { planReencryption, Reencryptor, type StoredRef } from '../../../../src/operator/keys/reencrypt.js';
import { previousDataKeyField, wrappedDataKeys } from '../../../../src/api/datakey.js';

const ref = (namespace: string, name: string, keyId: string | undefined): StoredRef => ({ namespace, name, keyId });
const base = { now: 100_000, settleMs: 30_000, firstSeen: () => 0 };

describe('planReencryption', () => {
  it('plans every value under an earlier key of its tenant, in a stable order, and nothing else', () => {
    const plan = planReencryption({
      ...base,
      keys: [
        { tenant: 'acme', active: 'dk-new', previous: ['dk-old'] },
        { tenant: 'globex', active: 'dk-g2', previous: ['dk-g1'] },
        { tenant: 'plain', active: 'dk-p', previous: [] },
      ],
      stored: [
        ref('globex', 'orkasecret-b', 'dk-g1'),
        ref('acme', 'orkasecret-z', 'dk-old'),
        ref('acme', 'orkasecret-a', 'dk-old'),
        ref('acme', 'orkasecret-done', 'dk-new'),
        ref('acme', 'orkasecret-lost', 'dk-gone'),
        ref('acme', 'orkasecret-bad', undefined),
        ref('plain', 'orkasecret-p', 'dk-p'),
        ref('nokeys', 'orkasecret-n', 'dk-old'),
      ],
    });
    expect(plan.pending.map((p) => `${p.ref.namespace}/${p.ref.name}<-${p.from}`)).toEqual(['acme/orkasecret-a<-dk-old', 'acme/orkasecret-z<-dk-old', 'globex/orkasecret-b<-dk-g1']);
    expect(plan.removable).toEqual([]);
    expect(plan.settling).toBe(0);
    expect(Object.fromEntries(plan.pendingByTenant)).toEqual({ acme: 2, globex: 1 });
  });

  it('removes an earlier key only once no value names it and it has been known for the settle time', () => {
    const keys = [{ tenant: 'acme', active: 'dk-3', previous: ['dk-1', 'dk-2'] }];
    const stored = [ref('acme', 'orkasecret-a', 'dk-2'), ref('acme', 'orkasecret-b', 'dk-3')];
    const settled = planReencryption({ ...base, keys, stored });
    expect(settled.removable).toEqual([{ tenant: 'acme', id: 'dk-1' }]);
    expect(settled.pending.map((p) => p.from)).toEqual(['dk-2']);
    const fresh = planReencryption({ ...base, keys, stored, firstSeen: () => base.now - 1000 });
    expect(fresh.removable).toEqual([]);
    expect(fresh.settling).toBe(1);
    expect(Object.fromEntries(fresh.pendingByTenant)).toEqual({ acme: 1 });
  });

  it('lets a value that opens under no key neither wait for re-encryption nor hold its key', () => {
    const plan = planReencryption({ ...base, keys: [{ tenant: 'acme', active: 'dk-2', previous: ['dk-1'] }], stored: [ref('acme', 'orkasecret-tampered', 'dk-1')], skip: (r) => r.name === 'orkasecret-tampered' });
    expect(plan.pending).toEqual([]);
    expect(plan.removable).toEqual([{ tenant: 'acme', id: 'dk-1' }]);
    expect(Object.fromEntries(plan.pendingByTenant)).toEqual({ acme: 0 });
  });

  it('has nothing to do when no tenant has an earlier key', () => {
    const plan = planReencryption({ ...base, keys: [{ tenant: 'acme', active: 'dk-1', previous: [] }], stored: [ref('acme', 'orkasecret-a', 'dk-1')] });
    expect(plan).toEqual({ pending: [], removable: [], settling: 0, pendingByTenant: new Map() });
  });
});

describe('wrappedDataKeys', () => {
  it('reads the active key and the earlier ones, active first', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const keys = wrappedDataKeys({ metadata: { annotations: { 'orka.io/data-key-id': 'dk-2' } }, data: { [previousDataKeyField('dk-1')]: b64('one'), wrapped: b64('two'), unrelated: b64('x') } });
    expect(keys.map((k) => [k.id, k.active, k.wrapped.toString()])).toEqual([
      ['dk-2', true, 'two'],
      ['dk-1', false, 'one'],
    ]);
  });

  it('holds no active key without its id', () => {
    expect(wrappedDataKeys({ data: { wrapped: 'AA==' } })).toEqual([]);
  });
});

/** A tenant's storage in memory, with the API calls the re-encryption makes (a fake: pure logic under test). */
function fakeCluster(count: number) {
  const oldKey = generateDataKey();
  const newKey = generateDataKey();
  const state = { previous: ['dk-old'] };
  const secrets = new Map<string, V1Secret>();
  const values = new Map<string, string>();
  let rv = 100;
  const put = (name: string, keyId: string, key: Buffer, version: number, value: string) => {
    const objectName = name.toLowerCase().replaceAll('_', '-');
    values.set(`orkasecret-${objectName}`, value);
    const envelope = encryptValue({ dataKey: { id: keyId, key }, tenant: 'acme', name, version, value: Buffer.from(value) });
    secrets.set(`orkasecret-${objectName}`, {
      metadata: { name: `orkasecret-${objectName}`, namespace: 'acme', resourceVersion: String(rv++), labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [STORAGE_FOR_LABEL]: objectName } },
      data: { value: envelope.toString('base64'), version: Buffer.from(String(version)).toString('base64') },
    });
  };
  for (let i = 0; i < count; i++) put(`VALUE_${i}`, 'dk-old', oldKey, i + 1, `value-${i}`);
  const writes: number[] = [];
  const conflicts = new Set<string>();
  const removed: string[] = [];
  const api = {
    replaceNamespacedSecret: async ({ name, body }: { name: string; namespace: string; body: V1Secret }) => {
      if (conflicts.delete(name) || body.metadata?.resourceVersion !== secrets.get(name)?.metadata?.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
      writes.push(Date.now());
      const written = { ...body, metadata: { ...body.metadata, resourceVersion: String(rv++) } };
      secrets.set(name, written);
      return written;
    },
    listNamespacedSecret: async () => ({ items: [...secrets.values()] }),
  };
  const keys = {
    dataKeyStates: () => [{ tenant: 'acme', active: 'dk-new', previous: state.previous }],
    dataKey: async () => ({ id: 'dk-new', key: newKey, lookup: (id: string) => (id === 'dk-new' ? newKey : id === 'dk-old' && state.previous.length > 0 ? oldKey : undefined) }),
    removePreviousDataKey: async (tenant: string, id: string) => {
      removed.push(`${tenant}/${id}`);
      state.previous = [];
      return true;
    },
  };
  const storage = { list: () => secrets.values(), get: (name: string) => secrets.get(name) };
  /** Which data key each value names, and whether it still opens to what was stored, with its version. */
  const opened = () =>
    [...secrets.values()].map((s) => {
      const content = readStorage(s) as { version: number; envelope: Buffer };
      const name = (s.metadata?.labels?.[STORAGE_FOR_LABEL] as string).toUpperCase().replaceAll('-', '_');
      const keyId = envelopeKeyId(content.envelope);
      const value = decryptValue({ dataKeys: (id) => (id === 'dk-new' ? newKey : id === 'dk-old' ? oldKey : undefined), tenant: 'acme', name, version: content.version, stored: content.envelope }).toString();
      return { keyId, ok: value === values.get(s.metadata?.name as string), version: content.version };
    });
  return { api, keys, storage, writes, conflicts, removed, opened, secrets, put: (name: string, value: string) => put(name, 'dk-old', oldKey, 1, value) };
}

const silent = createLogger({ name: 'test', level: 'silent' });

describe('Reencryptor', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('moves every value to the active key at the bounded rate, keeps versions, then removes the earlier key', async () => {
    const c = fakeCluster(6);
    const done = vi.fn();
    const r = new Reencryptor(c.api, c.keys, c.keys, { ratePerSecond: 2, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 0, idleMs: 1000, onComplete: done });
    r.start();
    await vi.advanceTimersByTimeAsync(1000);
    // 2 a second: at t = 0, 500 and 1000 ms, no more.
    expect(c.writes.length).toBeLessThanOrEqual(3);
    await vi.advanceTimersByTimeAsync(10_000);
    await r.stop();
    expect(c.writes).toHaveLength(6);
    for (let i = 1; i < c.writes.length; i++) expect((c.writes[i] as number) - (c.writes[i - 1] as number)).toBeGreaterThanOrEqual(500);
    expect(c.opened()).toEqual(Array.from({ length: 6 }, (_, i) => ({ keyId: 'dk-new', ok: true, version: i + 1 })));
    expect(c.removed).toEqual(['acme/dk-old']);
    expect(done).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith({ reencrypted: 6 });
  });

  it('continues after a stop, in a new instance (a new leader), from what the cluster holds', async () => {
    const c = fakeCluster(6);
    const first = new Reencryptor(c.api, c.keys, c.keys, { ratePerSecond: 1, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 0 });
    first.start();
    await vi.advanceTimersByTimeAsync(1500);
    await first.stop();
    const moved = c.opened().filter((o) => o.keyId === 'dk-new').length;
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(6);
    expect(c.removed).toEqual([]);
    const second = new Reencryptor(c.api, c.keys, c.keys, { ratePerSecond: 1, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 0 });
    second.start();
    await vi.advanceTimersByTimeAsync(15_000);
    await second.stop();
    expect(c.writes).toHaveLength(6);
    expect(c.opened().every((o) => o.keyId === 'dk-new' && o.ok)).toBe(true);
    expect(c.removed).toEqual(['acme/dk-old']);
  });

  it('leaves a concurrent write alone (tried again later), and a value that does not open does not hold the key', async () => {
    const c = fakeCluster(2);
    c.conflicts.add('orkasecret-value-0');
    c.put('DAMAGED', 'x');
    const damaged = c.secrets.get('orkasecret-damaged') as V1Secret;
    const bytes = Buffer.from(damaged.data?.value as string, 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    c.secrets.set('orkasecret-damaged', { ...damaged, data: { ...damaged.data, value: bytes.toString('base64') } });
    const r = new Reencryptor(c.api, c.keys, c.keys, { ratePerSecond: 10, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 0, idleMs: 1000 });
    r.start();
    await vi.advanceTimersByTimeAsync(5000);
    await r.stop();
    expect(c.writes).toHaveLength(2);
    expect(c.secrets.get('orkasecret-damaged')?.data?.value).toBe(bytes.toString('base64'));
    expect(c.removed).toEqual(['acme/dk-old']);
  });

  it('does not spin on a value it cannot move now (its tenant key not loadable): it looks again at the idle period', async () => {
    const c = fakeCluster(1);
    // A loop that spins is held at the 100th call (so the test ends and fails, rather than hangs).
    let release = () => {};
    const dataKey = vi.fn(async () => {
      if (dataKey.mock.calls.length > 100) await new Promise<void>((resolve) => (release = resolve));
      return undefined;
    });
    const r = new Reencryptor(c.api, { ...c.keys, dataKey }, c.keys, { ratePerSecond: 10, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 0, idleMs: 1000 });
    r.start();
    await vi.advanceTimersByTimeAsync(5000);
    const stopped = r.stop();
    release();
    await stopped;
    expect(dataKey.mock.calls.length).toBeGreaterThan(0);
    expect(dataKey.mock.calls.length).toBeLessThanOrEqual(7);
    expect(c.writes).toEqual([]);
    expect(c.removed).toEqual([]);
  });

  it('waits the settle time before removing an earlier key nothing uses', async () => {
    const c = fakeCluster(0);
    const r = new Reencryptor(c.api, c.keys, c.keys, { ratePerSecond: 10, log: silent, storage: c.storage, namespaceUid: () => 'uid', settleMs: 30_000, idleMs: 1000 });
    r.start();
    await vi.advanceTimersByTimeAsync(25_000);
    expect(c.removed).toEqual([]);
    await vi.advanceTimersByTimeAsync(10_000);
    await r.stop();
    expect(c.removed).toEqual(['acme/dk-old']);
  });
});
